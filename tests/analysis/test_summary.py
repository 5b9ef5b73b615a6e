"""lab.analysis.summary, by behaviour: small models grok inside the test, and the summary finds the events in
order."""

from __future__ import annotations

import pytest

import lab
from lab.analysis.summary import first_step
from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig
from lab.launch.runner import run_sweep


@pytest.mark.slow
def test_modular_addition_groks_with_weight_decay_and_not_without(tmp_path):
    spec = Spec(
        task=TaskConfig(p=31, train_frac=0.6),
        model=ModelConfig(kind="mlp", d_embed=32, width=128),
        train=TrainConfig(lr=3e-3, weight_decay=1.0, steps=4000, log_every=50, checkpoints=4),
        sweep=SweepConfig(seeds=1, axes=(("train.weight_decay", (0.0, 1.0)),)),
        name="grok",
    )
    run = lab.open(run_sweep(spec, tmp_path / "grok", progress=False))
    m = run.metrics
    without, with_wd = (m[m["train.weight_decay"] == wd].sort_values("step") for wd in (0.0, 1.0))

    fit = first_step(with_wd, "train_acc", 1.0)
    generalized = first_step(with_wd, "test_acc", 0.95)
    assert fit <= 500  # memorizes early
    assert generalized >= 4 * fit  # ... and generalizes clearly later: grokking
    assert with_wd.test_acc.iloc[-1] >= 0.95
    assert first_step(without, "train_acc", 1.0) <= 500  # without weight decay it memorizes too
    assert without.test_acc.max() < 0.95  # but does not generalize in the same steps


@pytest.mark.slow
def test_sparse_parity_groks(tmp_path):
    spec = Spec(
        task=TaskConfig(name="parity", n_bits=20, k=3, n_train=1000, n_test=1000),
        model=ModelConfig(kind="mlp", width=128),
        train=TrainConfig(lr=1e-2, weight_decay=0.1, steps=1500, log_every=50, checkpoints=3),
        name="parity",
    )
    m = lab.open(run_sweep(spec, tmp_path / "parity", progress=False)).metrics.sort_values("step")
    fit = first_step(m, "train_acc", 1.0)
    generalized = first_step(m, "test_acc", 0.95)
    assert m.test_acc.iloc[1] < 0.6  # chance level after the first chunk
    assert fit < generalized  # train accuracy first, test accuracy later
    assert m.test_acc.iloc[-1] >= 0.95
