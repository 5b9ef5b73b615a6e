"""lab.checkpoints.run: `lab.open`'s Run, its refusals, a cache that reads each checkpoint once, its HTML
summary."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

import lab
from lab.checkpoints.orbax_io import CheckpointStore
from lab.errors import LabError
from lab.launch.runner import checkpoint_steps, run_sweep


@pytest.fixture
def run(lr_run):
    """The shared tiny two-learning-rate sweep (conftest)."""
    return lr_run


def _tree_hash(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


def test_a_loop_over_models_and_steps_reads_each_checkpoint_once(run, monkeypatch):
    fresh = lab.open(run.path)
    reads = []
    real = CheckpointStore.restore_part
    monkeypatch.setattr(CheckpointStore, "restore_part",
                        lambda self, step, key, like: reads.append((str(self.path), step)) or real(self, step, key, like))
    for step in fresh.steps:
        for model in range(4):
            fresh.model(model, step)
    for model in range(4):
        for step in fresh.steps:
            fresh.params(model, step)
    assert len(reads) == len(set(reads)) == len(fresh.steps) * len(fresh.groups)


def test_runs_and_handles_show_html_summaries(run):
    page = run._repr_html_()
    assert "tiny" in page and "train.lr" in page and str(run.steps[-1]) in page
    m = run.model(2)
    assert "model 2" in m._repr_html_() and "mlp_post_0" in m._repr_html_()
    assert "treescope-container" in m.params_tree()._repr_html_()  # treescope's foldable tree (compressed)
    with pytest.raises(LabError, match="step 7 was not saved"):
        run.model(0, step=7)


def test_run_directory_api_and_refusals(spec_factory, tmp_path):
    spec = spec_factory(axes=[("train.weight_decay", (0.0, 1.0))])
    out = run_sweep(spec, tmp_path / "run", progress=False)
    run = lab.open(out)
    assert len(run.grid) == 4 and set(run.grid.columns) == {"model", "group", "train.weight_decay", "train.seed"}
    assert run.steps == checkpoint_steps(spec.train)
    m = run.metrics
    assert len(m) == 4 * (spec.train.steps // spec.train.log_every + 1)
    assert {"step", "model", "train_loss", "test_acc", "weight_norm", "train.weight_decay"} <= set(m.columns)
    params = run.params(3, step=run.steps[-1])
    assert params["W_in"].shape == (16, 16) and isinstance(params["W_in"], np.ndarray)
    state = run.state(run.steps[-1])
    assert np.asarray(state.step).tolist() == [spec.train.steps] * 4
    np.testing.assert_array_equal(state.params["W_in"][3], params["W_in"])
    assert (out / "run.json").is_file() and "jax" in run.meta["versions"]

    before = _tree_hash(out)
    other = dataclasses.replace(spec, train=dataclasses.replace(spec.train, lr=0.5))
    with pytest.raises(LabError, match=r"holds a run of another spec \(train.lr: 0.01 there, 0.5 here\)"):
        run_sweep(other, out, progress=False)
    assert _tree_hash(out) == before  # nothing changed

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(LabError, match="holds no lab run"):
        run_sweep(spec, stranger, progress=False)
    assert [p.name for p in stranger.iterdir()] == ["notes.txt"]
