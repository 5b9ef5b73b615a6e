"""lab.analysis.ablation: nothing ablated changes nothing, everything ablated gives chance, random baselines, steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lab
from lab import models, train
from lab.analysis import progress
from lab.analysis.ablation import (
    ablate,
    ablation_over_steps,
    ablation_spec,
    mean_activations,
    random_ablation_baseline,
)
from lab.analysis.activations import (
    activation_table,
    complete_dataset,
)
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.errors import LabError
from lab.launch.runner import run_sweep
from tests.helpers import tiny_spec, train_one

TINY = tiny_spec()  # MLP, width 16, x+y mod 11
MLP, TASK, P = TINY.model, TINY.task, TINY.task.p
apply = jax.jit(models.apply, static_argnums=(2, 3))


@pytest.fixture(scope="module")
def trained():
    """An MLP on x+y mod 11 trained on 80% of the table (a few hundred full-batch steps)."""
    spec = Spec(task=TaskConfig(p=P, train_frac=0.8), model=ModelConfig(kind="mlp", d_embed=16, width=32),
                train=TrainConfig(lr=1e-2, weight_decay=0.1, steps=300, log_every=300))
    return spec, train_one(spec, round(0.8 * P * P))


def test_ablating_nothing_changes_nothing_and_everything_gives_chance(trained):
    spec, params = trained
    x, y = complete_dataset(spec)
    plain_NxC = apply(params, x, spec.model, spec.task)
    plain_loss = float(jnp.mean(train.per_example_loss(plain_NxC, jnp.asarray(y), "cross_entropy")))
    assert float(jnp.mean(train.accuracy(plain_NxC, jnp.asarray(y)))) > 0.75  # it learned (at least) its 80%
    nothing = ablation_spec(spec.model)
    np.testing.assert_array_equal(apply(params, x, spec.model, spec.task, nothing), plain_NxC)
    assert ablate(params, spec, x=x, y=y, chunk=50)["loss"] == pytest.approx(plain_loss, rel=1e-6)
    # Every neuron constant: the logits are the same for every input, one class is predicted, and each class is
    # the label of exactly p of the p^2 pairs, so accuracy is exactly 1/p; and the loss, the cross-entropy of one
    # distribution q against uniform labels, -mean_c log q_c, is at least the uniform entropy log p (Gibbs).
    every = np.arange(spec.model.width)
    for mode in ("zero", "mean"):
        out = ablate(params, spec, x=x, y=y, neurons=every, mode=mode)
        assert out["accuracy"] == pytest.approx(1 / P, abs=1e-9) and out["loss"] >= np.log(P) - 1e-5
    means = mean_activations(params, spec, x=x)["neurons"]
    logits_NxC = apply(params, x, spec.model, spec.task, ablation_spec(spec.model, every, mode="mean", mean_acts=means))
    assert np.ptp(np.asarray(logits_NxC), axis=0).max() == 0.0
    with pytest.raises(ValueError, match="mode must be 'zero' or 'mean'"):
        ablate(params, spec, x=x, y=y, neurons=[0], mode="half")
    with pytest.raises(LabError, match="only in transformers"):
        ablate(params, spec, x=x, y=y, heads=[0])


def test_ablation_equals_editing_the_readout_weights(trained):
    spec, params = trained
    x, _ = complete_dataset(spec)
    some = np.array([1, 5, 6, 20])
    zeroed = dict(params, W_out=params["W_out"].copy())
    zeroed["W_out"][some] = 0.0
    np.testing.assert_allclose(apply(params, x, spec.model, spec.task, ablation_spec(spec.model, some)),
                               apply(zeroed, x, spec.model, spec.task), rtol=1e-5, atol=1e-5)
    means = mean_activations(params, spec, x=x)["neurons"]
    np.testing.assert_allclose(means, activation_table(params, spec, x=x).mean(axis=0), rtol=1e-5)
    folded = dict(zeroed, b_out=params["b_out"] + means[some] @ params["W_out"][some])  # a constant, into the bias
    mean_spec = ablation_spec(spec.model, some, mode="mean", mean_acts=means)
    np.testing.assert_allclose(apply(params, x, spec.model, spec.task, mean_spec),
                               apply(folded, x, spec.model, spec.task), rtol=1e-4, atol=1e-4)


def test_random_ablation_baseline(trained):
    spec, params = trained
    x, y = complete_dataset(spec)
    draws = random_ablation_baseline(params, spec, x=x, y=y, n_neurons=3, n_draws=6, key=jax.random.key(0), mode="mean")
    assert draws["loss"].shape == draws["accuracy"].shape == (6,) and draws["neurons"].shape == (6, 3)
    assert all(len(set(row)) == 3 for row in draws["neurons"].tolist())
    assert len({tuple(row) for row in draws["neurons"].tolist()}) > 1
    first = ablate(params, spec, x=x, y=y, neurons=draws["neurons"][0], mode="mean")
    assert draws["loss"][0] == pytest.approx(first["loss"]) and draws["accuracy"][0] == pytest.approx(first["accuracy"])
    everything = random_ablation_baseline(params, spec, x=x, y=y, n_neurons=spec.model.width, n_draws=2)
    np.testing.assert_allclose(everything["accuracy"], 1 / P)
    few, many = (random_ablation_baseline(params, spec, x=x, y=y, n_neurons=n, n_draws=20, key=jax.random.key(1),
                                          mode="mean") for n in (2, 24))
    assert few["accuracy"].mean() > many["accuracy"].mean()  # the more neurons ablated, the more is lost


def test_ablation_over_saved_steps(tmp_path):
    run = lab.open(run_sweep(tiny_spec(seeds=1), tmp_path / "run", progress=False))
    table = ablation_over_steps(run, model=0, neurons=np.arange(MLP.width))
    assert list(table.step) == run.steps
    np.testing.assert_allclose(table.accuracy, 1 / P)
    assert (table.loss_increase == table.loss - table.plain_loss).all()
    # Unablated, the loss over all pairs is the logged train and test losses weighted by their sizes.
    mask = progress.train_mask(run.spec)
    logged = run.metrics.set_index("step").loc[run.steps[-1]]
    expected = (mask.sum() * logged.train_loss + (P * P - mask.sum()) * logged.test_loss) / (P * P)
    assert table.plain_loss.iloc[-1] == pytest.approx(expected, rel=1e-4)
    few = ablation_over_steps(run, model=0, neurons=[0, 3], mode="mean", steps=run.steps[-1:])
    assert len(few) == 1 and np.isfinite(few.loss).all()
