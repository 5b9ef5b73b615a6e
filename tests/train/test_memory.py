"""lab.train.memory: a sweep too large for memory is split into batches."""

from __future__ import annotations

import numpy as np

import lab
from lab.launch.runner import run_sweep
from lab.sweeps import expand


def test_a_sweep_too_large_for_memory_is_split_into_batches(spec_factory, tmp_path, monkeypatch, capsys):
    from lab.train import memory

    spec = spec_factory(axes=[("train.weight_decay", (0.0, 1.0))])
    (group,) = expand(spec)
    per_model = memory.bytes_per_model(group.spec, group.n_train_max(), group.shares_data)
    monkeypatch.setattr(memory, "memory_budget", lambda: int(2.5 * per_model))
    run = lab.open(run_sweep(spec, tmp_path / "split", progress=True))
    assert "does not fit" in capsys.readouterr().out
    assert [g.models for g in run.groups] == [(0, 1), (2, 3)]
    monkeypatch.undo()
    whole = lab.open(run_sweep(spec, tmp_path / "whole", progress=False))
    assert [g.models for g in whole.groups] == [(0, 1, 2, 3)]
    cols = ["train_loss", "test_acc", "weight_norm"]
    np.testing.assert_allclose(run.metrics[cols].to_numpy(), whole.metrics[cols].to_numpy(), rtol=1e-4, atol=1e-6)
    assert run.params(3)["W_in"].shape == whole.params(3)["W_in"].shape
