"""lab.launch.preemption: SIGTERM saves at the end of the chunk and stops; the CLI says so in one line and exits
143; the rerun ends bit-identical."""

from __future__ import annotations

import os
import signal

import jax
import numpy as np
import pytest

import lab
from lab.cli import main
from lab.errors import Preempted
from lab.launch.runner import run_sweep
from tests.helpers import resume_spec, resume_steps, stop_after

COLUMNS = ["step", "model", "train_loss", "train_acc", "test_loss", "test_acc", "weight_norm"]


def _same_as(full, resumed) -> None:
    assert resumed.steps == full.steps  # the resume checkpoints are not analysis steps
    for step in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(step), resumed.state(step))
    np.testing.assert_array_equal(full.metrics[COLUMNS].to_numpy(), resumed.metrics[COLUMNS].to_numpy())  # once each


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return lab.open(run_sweep(resume_spec(0.0), tmp_path_factory.mktemp("full") / "run", progress=False))


def test_sigterm_saves_at_the_end_of_the_chunk_stops_and_resumes_bit_identical(full, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    stop_after(monkeypatch, 2, lambda: os.kill(os.getpid(), signal.SIGTERM))
    previous = signal.getsignal(signal.SIGTERM)
    # the signal comes while step 30's chunk is handled, after the next chunk (to 40) was started: it saves there
    with pytest.raises(Preempted, match="stopped on SIGTERM: group 1 saved at step 40 of 60; run the same command"):
        run_sweep(resume_spec(0.0), run_dir, progress=False)  # no interval: the signal alone makes the save
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is the sweep's only while it runs
    assert resume_steps(run_dir) == [40]
    monkeypatch.undo()
    _same_as(full, lab.open(run_sweep(resume_spec(0.0), run_dir, progress=False)))


def test_the_cli_says_it_was_preempted_in_one_line_and_exits_143(tmp_path, monkeypatch, capsys):
    spec_file = tmp_path / "tiny.toml"
    spec_file.write_text('[task]\np = 11\ntrain_frac = 0.5\n[model]\nkind = "mlp"\nd_embed = 8\nwidth = 16\n'
                         '[train]\nsteps = 60\nlog_every = 10\ncheckpoints = 3\nlr = 1e-2\nresume_every = 0\n')
    stop_after(monkeypatch, 1, lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "run"), "--quiet"]) == 143
    err = capsys.readouterr().err.strip().splitlines()
    # the signal came while step 20's chunk was handled, an analysis checkpoint: saved there, stopped there
    assert err == ["lab: stopped on SIGTERM: group 1 saved at step 20 of 60; run the same command to resume"]
    monkeypatch.undo()
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert lab.open(tmp_path / "run").steps[-1] == 60
