"""Fault injection on `lab sweep`: a full disk during a save, a run directory copied to another place, and
SIGKILLs of a real `lab sweep` process at random moments (many of them inside a save). After each, the rerun
ends bit-identical to an uninterrupted run, with every logged step in the metrics exactly once."""

from __future__ import annotations

import errno
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import lab
from lab.checkpoints.orbax_io import CheckpointStore
from lab.cli import main
from lab.launch.runner import run_sweep
from lab.sweeps import load_spec

from conftest import stop_after

ROOT = Path(__file__).parent.parent
COLUMNS = ["step", "model", "train_loss", "train_acc", "test_loss", "test_acc", "weight_norm"]
SPEC = """name = "faults"
[task]
p = 11
train_frac = 0.5
[model]
kind = "mlp"
d_embed = 8
width = 16
[train]
steps = 6000
log_every = 10
checkpoints = 6
lr = 1e-2
batch_size = 16
resume_every = 0.05
[sweep]
seeds = 2
"train.weight_decay" = [0.0, 1.0]
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "faults.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def full(spec_file, tmp_path_factory):
    return lab.open(run_sweep(load_spec(spec_file), tmp_path_factory.mktemp("full") / "run", progress=False))


def _same_as(full, run_dir: Path) -> None:
    resumed = lab.open(run_dir)
    assert resumed.steps == full.steps
    for step in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(step), resumed.state(step))
    np.testing.assert_array_equal(full.metrics[COLUMNS].to_numpy(), resumed.metrics[COLUMNS].to_numpy())


def test_a_full_disk_during_a_save_is_one_line_and_loses_nothing(spec_file, full, tmp_path, monkeypatch, capsys):
    real, saves = CheckpointStore.save, []

    def disk_full(self, step, state):
        saves.append(step)
        if len(saves) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / str(step)))
        return real(self, step, state)

    monkeypatch.setattr(CheckpointStore, "save", disk_full)
    run_dir = tmp_path / "run"
    assert main(["sweep", str(spec_file), "--out", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "run the same command to resume" in err[0]
    monkeypatch.undo()
    assert main(["sweep", str(spec_file), "--out", str(run_dir), "--quiet"]) == 0
    _same_as(full, run_dir)


def test_a_run_directory_copied_to_another_place_resumes_there(spec_file, full, tmp_path, monkeypatch):
    stop_after(monkeypatch, 170)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_spec(spec_file), tmp_path / "here", progress=False)
    monkeypatch.undo()
    shutil.copytree(tmp_path / "here", tmp_path / "elsewhere" / "run")
    before = sorted(str(p.relative_to(tmp_path / "here")) for p in (tmp_path / "here").rglob("*"))
    run_sweep(load_spec(spec_file), tmp_path / "elsewhere" / "run", progress=False)
    _same_as(full, tmp_path / "elsewhere" / "run")
    assert sorted(str(p.relative_to(tmp_path / "here")) for p in (tmp_path / "here").rglob("*")) == before


def _rolling(run_dir: Path) -> list[int]:
    """The steps in group 0's rolling resume checkpoint folder (normally one), [] when there is none."""
    resume = run_dir / "group_000" / "resume"
    try:
        return CheckpointStore(resume, read_only=True).steps() if resume.is_dir() else []
    except Exception:  # caught mid-save or mid-delete by the writer: look again later
        return []


@pytest.mark.slow
def test_sigkills_at_random_moments_and_inside_saves_resume_bit_identical(spec_file, full, tmp_path):
    """A real `lab sweep` killed (SIGKILL) 6 times at seeded random moments once it has started training; the
    resume checkpoint is written every 0.05 s, so most kills land near or inside a save."""
    run_dir, rng, kills, ahead = tmp_path / "run", np.random.default_rng(0), 0, 0
    command = [sys.executable, "-c", "import sys; from lab.cli import main; sys.exit(main())", "sweep",
               str(spec_file), "--out", str(run_dir), "--quiet"]
    while kills < 6:
        before = _rolling(run_dir)
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        while process.poll() is None and _rolling(run_dir) in (before, []):  # until it trains and saves anew
            if time.monotonic() - started > 120:
                process.kill()
                pytest.fail("lab sweep did not start training within 120 s")
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        if process.poll() is not None:  # it finished before the kill: the run is complete
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        run, rolling = lab.open(run_dir), _rolling(run_dir)  # every state a kill leaves is a readable run
        ahead += bool(rolling and rolling[-1] > max(run.steps))  # the rolling checkpoint is newer than run.steps
    final = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert kills >= 3 and ahead >= 1, (kills, ahead)  # killed mid-training, and saved work past run.steps
    _same_as(full, run_dir)


def test_a_corrupted_middle_checkpoint_does_not_stop_the_resume_and_is_named_when_read(spec_file, full, tmp_path,
                                                                                      monkeypatch):
    from lab.errors import LabError

    stop_after(monkeypatch, 300)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_spec(spec_file), tmp_path / "run", progress=False)
    monkeypatch.undo()
    steps = lab.open(tmp_path / "run").steps
    middle = steps[len(steps) // 2]
    for f in (tmp_path / "run" / "group_000" / "checkpoints" / str(middle)).rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"garbage")
    run_sweep(load_spec(spec_file), tmp_path / "run", progress=False)  # resumes from the newest, which is intact
    resumed = lab.open(tmp_path / "run")
    np.testing.assert_array_equal(resumed.params(0)["W_in"], full.params(0)["W_in"])
    with pytest.raises(LabError, match=f"checkpoint of step {middle} .* could not be read"):
        resumed.params(0, middle)
