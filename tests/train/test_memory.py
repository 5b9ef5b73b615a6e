"""lab.train.memory: a sweep too large for memory is split into batches."""

from __future__ import annotations

import numpy as np

import lab
from lab.launch.runner import run_sweep
from lab.sweeps import expand, load_spec
from tests.helpers import SWEEPS


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


def test_row_blocks_on_one_thread_cpu_devices_for_batches_larger_than_the_cache(monkeypatch):
    from lab.train import memory

    wide = load_spec(SWEEPS / "pair_parity.toml", ["task.n_train=1750", "model.width=258"])  # ~3.6 MB a model
    narrow = wide.replace("model.width", 16)
    rows = wide.task.n_train
    monkeypatch.setenv("XLA_FLAGS", "")
    assert memory.auto_row_block(wide, rows) == 0  # a device of several threads: the batch stays whole
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")  # as lab sweep --cpu-devices sets
    assert memory.one_thread_cpu()
    block = memory.auto_row_block(wide, rows)
    n_blocks = -(-rows // block)
    assert 1 < n_blocks and n_blocks * block - rows < n_blocks  # fewer padding rows than blocks
    per_row = memory._activation_bytes(wide, *_params_and_batch(wide, rows)) / rows
    assert memory.ROW_BLOCK_BYTES / 2 < block * per_row and (block - 1) * per_row <= memory.ROW_BLOCK_BYTES
    assert memory.auto_row_block(narrow, rows) == 0  # its whole batch fits the cache
    assert memory.auto_row_block(wide.replace("train.row_block", 100), rows) == 100  # the spec's own wins
    nanda = load_spec(SWEEPS / "nanda_p113.toml")
    assert memory._activation_bytes(nanda, *_params_and_batch(nanda, 3831)) > memory.ROW_BLOCKS_ABOVE
    assert memory.auto_row_block(nanda, 3831) == 0  # a transformer's batch stays whole (blocks were slower)
    assert memory.auto_model_batch(narrow, rows, 45) == 1  # one model at a time on one thread
    assert memory.auto_model_batch(narrow.replace("train.model_batch", 5), rows, 45) == 5


def _params_and_batch(spec, rows):
    from lab.train import memory

    state, data = memory._one_model_shapes(spec, rows)
    return state.params, data.x_train
