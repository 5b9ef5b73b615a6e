"""lab.launch.retire: decided models freeze and the group goes on compacted to the models still training, every
model's numbers bit-identical to a run without retirement, also across a resume and over two devices."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import lab
from lab.checkpoints.orbax_io import CheckpointStore
from lab.launch import runner
from lab.launch.retire import Retirement, read_retired
from lab.launch.runner import _balanced, _compacted, run_sweep
from tests.helpers import ROOT, assert_same_run, tiny_spec

COLUMNS = ["step", "train_loss", "train_acc", "test_loss", "test_acc", "weight_norm"]


def _spec(**train):
    spec = tiny_spec(steps=3000, log_every=20, seeds=2, model_batch=3,  # 8 models in vmapped batches of 3, 3, 2
                     axes=[("train.weight_decay", (0.0, 1.0)), ("train.lr", (1e-2, 3e-2))])
    return dataclasses.replace(spec, task=dataclasses.replace(spec.task, train_frac=0.8),
                               train=dataclasses.replace(spec.train, **train))


RETIRE = dict(retire_after=5, retire_rule="decided", retire_loss=1e-2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("retire")
    return lab.open(run_sweep(_spec(), root / "full", progress=False)), root


def test_a_group_whose_models_all_froze_before_its_last_save_finishes_on_resume(tmp_path, monkeypatch):
    # lr so small that no training loss falls by 1%: with retire_after=2 every model is decided by step 30 and
    # frozen at 40, long before the last step; the kill comes at the final save, after the frozen states were saved
    spec = tiny_spec(steps=200, seeds=2, lr=1e-9, retire_after=2, retire_rule="decided")
    full = lab.open(run_sweep(spec, tmp_path / "full", progress=False))
    assert set(full.retired) == {0, 1} and max(full.retired.values()) < 200
    real = CheckpointStore.save

    def killed_at_the_end(self, step, state):
        if step == spec.train.steps:
            raise KeyboardInterrupt
        return real(self, step, state)

    monkeypatch.setattr(CheckpointStore, "save", killed_at_the_end)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "run", progress=False)
    monkeypatch.undo()
    assert spec.train.steps not in lab.open(tmp_path / "run").steps
    resumed = lab.open(run_sweep(spec, tmp_path / "run", progress=False))  # nothing left to train: the last save
    assert resumed.retired == full.retired
    assert_same_run(full, resumed)


MESH_SCRIPT = textwrap.dedent(
    """
    import sys, jax, numpy as np
    sys.path.insert(0, {root!r})
    import lab
    from lab.launch import runner
    from lab.launch.retire import read_retired
    from tests.launch.test_retire import COLUMNS, RETIRE, _spec

    assert jax.device_count() == 2, jax.devices()
    spec = lambda **kw: _spec(model_batch={model_batch}, **kw)
    placed, real = [], runner._place
    runner._place = lambda host, rows, mesh: placed.append(len(rows)) or real(host, rows, mesh)
    skipped, real_chunks = [], runner.run_chunks
    def chunks(*args, live_M=None, **kw):
        skipped.append(0 if live_M is None else int((~np.asarray(live_M)).sum()))
        return real_chunks(*args, live_M=live_M, **kw)
    runner.run_chunks = chunks
    full = lab.open(runner.run_sweep(spec(), {out!r} + "/full", progress=False))
    assert not placed and not any(skipped)  # without retirement the group is never re-placed, nothing skipped
    out = lab.open(runner.run_sweep(spec(**RETIRE), {out!r} + "/retired", progress=False))
    retired = read_retired(out.path / "group_000")
    if {model_batch} == 1:  # one at a time: frozen ones skipped, the live ones dealt evenly over the 2 devices
        assert retired and placed and set(placed) == {{8}} and 0 < max(skipped) <= len(retired), (retired, placed,
                                                                                                 skipped)
    else:  # vmapped batches of 3 on 2 devices: not compacted (see runner's relayout), numbers kept
        assert retired and not placed and not any(skipped), (retired, placed, skipped)
    for model in range(8):
        mine = out.metrics[out.metrics.model == model][COLUMNS].to_numpy()
        theirs = full.metrics[full.metrics.model == model][COLUMNS].to_numpy()
        bad = np.flatnonzero((mine != theirs[: len(mine)]).any(axis=1))
        assert not len(bad), (model, retired, placed, mine[bad[:3]], theirs[bad[:3]])
        if model not in retired:
            assert len(mine) == len(theirs)
            jax.tree.map(np.testing.assert_array_equal, out.params(model), full.params(model))
    print("ok", len(retired), placed)
    """
)


def test_compaction_keeps_every_model_in_a_batch_of_its_own_size():
    rows = lambda *args: _compacted(*args)[0]  # noqa: E731
    assert rows([4, 5, 6], 8, 3) == [4, 5, 5, 6, 6]  # full batches (0-5) of 3, the remainder (6, 7) of 2
    assert rows([1, 4], 8, 3) == [1, 4, 4]
    assert rows([7], 8, 3) == [7, 7]
    assert rows([0, 1], 8, 8) == list(range(8))  # one batch for the group: nothing can go
    assert rows([0, 1], 8, 0) == list(range(8))
    assert _compacted([1, 7], 8, 3) == ([1, 1, 1, 7, 7], {1: 0, 7: 3})  # each live model keeps its own row


def test_models_one_at_a_time_are_dealt_evenly_over_the_devices():
    rows, where = _balanced([0, 1, 2, 5, 9], 10, 2)  # two devices of 5 rows, 5 live models
    assert rows == [0, 2, 9, 0, 0, 1, 5, 1, 1, 1] and where == {0: 0, 2: 1, 9: 2, 1: 5, 5: 6}
    assert _balanced([4], 4, 2) == ([4, 4, 4, 4], {4: 0})  # a device with no live model holds copies


def test_retired_models_freeze_and_the_rest_stay_bit_identical_to_a_run_without_retirement(runs, monkeypatch):
    full, root = runs
    placed = []
    real_place = runner._place
    monkeypatch.setattr(runner, "_place", lambda host, rows, mesh: placed.append(len(rows)) or real_place(host, rows, mesh))
    out = lab.open(run_sweep(_spec(**RETIRE), root / "retired", progress=False))
    assert placed and min(placed) < len(full.grid)  # compacted
    _assert_frozen_and_the_rest_identical(out, full)


def test_models_one_at_a_time_skip_their_frozen_ones_bit_identical_and_across_a_resume(tmp_path, monkeypatch):
    spec = lambda **kw: _spec(model_batch=1, **kw)  # noqa: E731
    full = lab.open(run_sweep(spec(), tmp_path / "full", progress=False))
    masks, real = [], runner.run_chunks

    def chunks(*args, live_M=None, **kwargs):
        masks.append((args[4], np.asarray(live_M)))  # (start step, live rows)
        return real(*args, live_M=live_M, **kwargs)

    monkeypatch.setattr(runner, "run_chunks", chunks)
    monkeypatch.setattr(runner, "_place", lambda *a: pytest.fail("models one at a time are never re-placed"))
    out = lab.open(run_sweep(spec(**RETIRE), tmp_path / "retired", progress=False))
    _assert_frozen_and_the_rest_identical(out, full)
    for start, live in masks:  # from each restart on, exactly the models frozen by then are skipped
        assert set(np.flatnonzero(~live)) == {m for m, at in out.retired.items() if at <= start}
    assert len(masks) > 2
    kill_at = masks[2][0] + 3 * spec().train.log_every  # a few chunks after the second freeze

    def killed(*args, live_M=None, **kwargs):
        for step, metrics, state in real(*args, live_M=live_M, **kwargs):
            if step == kill_at:
                raise KeyboardInterrupt
            yield step, metrics, state

    monkeypatch.setattr(runner, "run_chunks", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec(**RETIRE, resume_every=1e-9), tmp_path / "resumed", progress=False)
    monkeypatch.setattr(runner, "run_chunks", real)
    resumed = lab.open(run_sweep(spec(**RETIRE), tmp_path / "resumed", progress=False))
    assert resumed.retired == out.retired
    np.testing.assert_array_equal(resumed.metrics[COLUMNS].to_numpy(), out.metrics[COLUMNS].to_numpy())
    for step in out.steps:
        jax.tree.map(np.testing.assert_array_equal, out.state(step).params, resumed.state(step).params)


def _assert_frozen_and_the_rest_identical(out, full):
    """Some models retired, each with the numbers of the run without retirement up to where it froze and frozen in
    every later checkpoint; the others identical to that run throughout."""
    retired = read_retired(out.path / "group_000")
    assert out.retired == retired and full.retired == {}  # one group: local and global indices agree
    assert 0 < len(retired) < len(full.grid)
    assert out.steps == full.steps
    for model in range(len(full.grid)):
        mine = out.metrics[out.metrics.model == model][COLUMNS].to_numpy()
        theirs = full.metrics[full.metrics.model == model][COLUMNS].to_numpy()
        np.testing.assert_array_equal(mine, theirs[: len(mine)])  # the same numbers, up to where it froze
        if model in retired:
            assert mine[-1, 0] == retired[model]  # its rows end where it froze
            after = [s for s in out.steps if s >= retired[model]]
            first, last = out.params(model, after[0]), out.params(model, out.steps[-1])
            jax.tree.map(np.testing.assert_array_equal, first, last)  # frozen in every later checkpoint
        else:
            assert len(mine) == len(theirs)
            jax.tree.map(np.testing.assert_array_equal, out.params(model), full.params(model))


def test_a_run_with_retirement_resumes_bit_identical(runs, monkeypatch):
    _, root = runs
    whole = lab.open(root / "retired") if (root / "retired").exists() else lab.open(
        run_sweep(_spec(**RETIRE), root / "retired", progress=False))
    real = runner.run_chunks
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args[5])  # the start step of each (re)started chunk loop
        for i, item in enumerate(real(*args, **kwargs)):
            if len(calls) == 2 and i == 3:  # soon after the first compaction
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(runner, "run_chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_spec(**RETIRE, resume_every=1e-9), root / "resumed", progress=False)
    monkeypatch.undo()
    assert len(calls) == 2  # it was compacted once before the kill
    resumed = lab.open(run_sweep(_spec(**RETIRE), root / "resumed", progress=False))
    assert read_retired(resumed.path / "group_000") == read_retired(whole.path / "group_000")
    np.testing.assert_array_equal(resumed.metrics[COLUMNS].to_numpy(), whole.metrics[COLUMNS].to_numpy())
    for step in whole.steps:
        jax.tree.map(np.testing.assert_array_equal, whole.state(step).params, resumed.state(step).params)


def test_the_rule_counts_consecutive_decided_logs():
    cfg = _spec(retire_after=2, retire_loss=0.1).train
    rule = Retirement(cfg, 3)
    good = {"test_acc": np.array([1.0, 1.0, 0.5]), "test_loss": np.array([0.05, 0.5, 0.05]),
            "train_loss": np.array([0.1, 0.1, 0.1])}
    assert rule.update(np.arange(3), good) == []
    assert rule.update(np.arange(3), good) == [0]  # two logs in a row generalized, with a low enough loss
    stalled = Retirement(dataclasses.replace(cfg, retire_rule="decided"), 1)
    flat = {"test_acc": np.array([0.0]), "test_loss": np.array([3.0]), "train_loss": np.array([1.0])}
    assert [stalled.update(np.arange(1), flat) for _ in range(3)] == [[], [], [0]]  # no new low for 2 logs


@pytest.mark.parametrize("model_batch", [1, 3])
def test_retirement_over_two_devices_stays_bit_identical(tmp_path, model_batch):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    script = MESH_SCRIPT.format(root=str(ROOT), out=str(tmp_path), model_batch=model_batch)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-3000:]
