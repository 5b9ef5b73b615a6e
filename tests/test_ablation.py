"""Tests of neuron ablation: nothing ablated changes nothing; everything ablated gives chance; random baselines."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from lab import models, train
from lab.analysis.ablation import ablate_neurons, random_ablations
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.tasks import all_pairs

TASK = TaskConfig(p=13, train_frac=0.8)
SPEC = Spec(task=TASK, model=ModelConfig(kind="mlp", d_embed=16, width=48),
            train=TrainConfig(lr=1e-2, weight_decay=0.1, steps=400, log_every=400))


@pytest.fixture(scope="module")
def trained():
    programs = train.build_programs(SPEC, round(0.8 * 169))
    hp = jax.tree.map(jax.numpy.asarray, train.hparams_of(SPEC, [{}]))
    state, data = programs.init(hp), programs.data(hp)
    state, _ = programs.chunk(state, data, hp)
    return jax.tree.map(lambda w: np.asarray(w[0]), state.params)


def test_ablating_nothing_changes_nothing_and_everything_gives_chance(trained):
    x, y = all_pairs(TASK)
    logits = np.asarray(models.apply(trained, x, SPEC.model, TASK))
    plain_acc = float(np.mean(logits.argmax(-1) == y))
    assert plain_acc > 0.75  # the model learned (at least) its training pairs, 80% of the table
    plain_loss = float(np.mean(train.per_example_loss(logits, y, "cross_entropy")))
    none = ablate_neurons(trained, SPEC.model, TASK, x, y, neurons=[])
    assert none["accuracy"] == pytest.approx(plain_acc, abs=1e-6)
    assert none["loss"] == pytest.approx(plain_loss, rel=1e-5)
    every = range(SPEC.model.width)
    for mode in ("zero", "mean"):
        out = ablate_neurons(trained, SPEC.model, TASK, x, y, neurons=every, mode=mode)
        # Every hidden neuron constant: the logits are the same for all inputs, so one class is predicted
        # and accuracy is that class's share of the table, 13 of 169 = 1/p.
        assert out["accuracy"] == pytest.approx(1 / TASK.p, abs=1e-6)
        assert np.isfinite(out["loss"]) and out["loss"] != pytest.approx(none["loss"])


def test_random_ablation_baseline_shrinks_with_fewer_neurons(trained):
    x, y = all_pairs(TASK)
    few = random_ablations(trained, SPEC.model, TASK, x, y, n_neurons=2, n_draws=20, seed=0)
    many = random_ablations(trained, SPEC.model, TASK, x, y, n_neurons=40, n_draws=20, seed=0)
    assert few.shape == (20,) and few.mean() > many.mean()
    assert len(set(random_ablations(trained, SPEC.model, TASK, x, y, 2, n_draws=5, seed=1).tolist())) >= 1
    with pytest.raises(ValueError, match="mode must be 'zero' or 'mean'"):
        ablate_neurons(trained, SPEC.model, TASK, x, y, neurons=[0], mode="half")
