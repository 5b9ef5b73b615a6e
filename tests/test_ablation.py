"""Tests of neuron ablation: nothing ablated changes nothing; everything ablated gives chance; random baselines."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from conftest import train_one
from lab import models, train
from lab.analysis.ablation import ablate, random_ablation_baseline
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.tasks import all_pairs

TASK = TaskConfig(p=13, train_frac=0.8)
SPEC = Spec(task=TASK, model=ModelConfig(kind="mlp", d_embed=16, width=48),
            train=TrainConfig(lr=1e-2, weight_decay=0.1, steps=400, log_every=400))


@pytest.fixture(scope="module")
def trained():
    return train_one(SPEC, round(0.8 * 169))


def test_ablating_nothing_changes_nothing_and_everything_gives_chance(trained):
    x, y = all_pairs(TASK)
    logits = np.asarray(models.apply(trained, x, SPEC.model, TASK))
    plain_acc = float(np.mean(logits.argmax(-1) == y))
    assert plain_acc > 0.75  # the model learned (at least) its training pairs, 80% of the table
    plain_loss = float(np.mean(train.per_example_loss(logits, y, "cross_entropy")))
    none = ablate(trained, SPEC, x=x, y=y, neurons=[])
    assert none["accuracy"] == pytest.approx(plain_acc, abs=1e-6)
    assert none["loss"] == pytest.approx(plain_loss, rel=1e-5)
    every = range(SPEC.model.width)
    for mode in ("zero", "mean"):
        out = ablate(trained, SPEC, x=x, y=y, neurons=list(every), mode=mode)
        # Every hidden neuron constant: the logits are the same for all inputs, so one class is predicted
        # and accuracy is that class's share of the table, 13 of 169 = 1/p.
        assert out["accuracy"] == pytest.approx(1 / TASK.p, abs=1e-6)
        # One fixed distribution against labels spread evenly over the p classes: loss >= log p.
        assert out["loss"] >= np.log(TASK.p) - 1e-5


def test_random_ablation_baseline_shrinks_with_fewer_neurons(trained):
    x, y = all_pairs(TASK)
    key = jax.random.key(0)
    few = random_ablation_baseline(trained, SPEC, x=x, y=y, n_neurons=2, n_draws=20, key=key, mode="mean")
    many = random_ablation_baseline(trained, SPEC, x=x, y=y, n_neurons=40, n_draws=20, key=key, mode="mean")
    assert few["accuracy"].shape == (20,) and few["accuracy"].mean() > many["accuracy"].mean()
    assert all(len(set(row)) == 40 for row in many["neurons"].tolist())  # distinct within a draw
    for d in (0, 7):  # the batched draws equal one `ablate` call on the same neurons
        one = ablate(trained, SPEC, x=x, y=y, neurons=many["neurons"][d], mode="mean")
        assert many["accuracy"][d] == pytest.approx(one["accuracy"])
        assert many["loss"][d] == pytest.approx(one["loss"], rel=1e-5)
    with pytest.raises(ValueError, match="mode must be .zero. or .mean."):
        ablate(trained, SPEC, x=x, y=y, neurons=[0], mode="half")
