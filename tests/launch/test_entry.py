"""lab.launch.entry: `lab.sweep(...)` from Python trains the overridden grid, resumes, and refuses a folder that
holds another spec without touching it."""

from __future__ import annotations

import pytest

import lab
from lab.errors import LabError
from tests.helpers import LRS, tiny_spec


@pytest.fixture
def run(lr_run):
    """The shared tiny two-learning-rate sweep (conftest)."""
    return lr_run


def test_lab_sweep_trains_the_overridden_grid_and_returns_its_run(run):
    assert isinstance(run, lab.Run)
    assert sorted(run.grid["train.lr"].unique()) == list(LRS) and len(run.grid) == 4
    assert run.steps[-1] == 40 and set(run.metrics.step) >= {0, 40}


def test_lab_sweep_resumes_and_refuses_another_spec_untouched(run):
    before = run.metrics.copy()
    again = lab.sweep(tiny_spec(seeds=2), out=run.path, set={"sweep.train.lr": list(LRS), "train.steps": 40},
                      progress=False)
    assert again.metrics.equals(before)
    files = {p: p.stat().st_mtime_ns for p in run.path.rglob("*") if p.is_file()}
    with pytest.raises(LabError, match="holds a run of another spec"):
        lab.sweep(tiny_spec(seeds=2), out=run.path, set={"train.steps": 40}, progress=False)
    assert {p: p.stat().st_mtime_ns for p in run.path.rglob("*") if p.is_file()} == files


def test_lab_sweep_takes_a_spec_file_and_a_dict_of_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.toml"
    path.write_text('[task]\np = 11\n[model]\nkind = "mlp"\nd_embed = 8\nwidth = 16\n[train]\nsteps = 20\nlog_every = 10\n')
    run = lab.sweep(path, set={"sweep.train.weight_decay": [0.0, 1.0]}, progress=False)
    assert run.path.resolve() == tmp_path / "checkpoints" / "tiny" and len(run.grid) == 2  # the default folder
    with pytest.raises(LabError, match="unknown key 'train.lrr'"):
        lab.sweep(path, set={"train.lrr": 1.0}, progress=False)
