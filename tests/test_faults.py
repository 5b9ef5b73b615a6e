"""Fault injection on `lab sweep`: a full disk during a save, a run directory copied to another place, and
SIGKILLs of a real `lab sweep` process at random moments (many of them inside a save) and before each file of
a save in turn. After each, the rerun ends bit-identical to an uninterrupted run, with every logged step in the
metrics exactly once."""

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


def test_an_unwritable_directory_is_one_line(spec_file, capsys):
    # The tests run as root, who may write anywhere but sysfs: no one can make a folder in /sys.
    out = Path("/sys/lab_run")
    assert main(["sweep", str(spec_file), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lab: error: cannot write the run directory {out} (") and err.count("\n") == 1, err
    assert "pass another --out" in err and not out.exists()


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


KILL_INSIDE_SAVE = """
import builtins, os, signal, sys
from lab.checkpoints.orbax_io import CheckpointStore
from lab.cli import main

SAVE, EVENT = {save}, {event}  # SIGKILL before the EVENT-th file write or rename of the SAVE-th save
saves, events, real_save = [0], [0], CheckpointStore.save

def counted(self, step, state):
    saves[0] += 1
    return real_save(self, step, state)

def file_event(real):
    def wrapped(*args, **kwargs):
        writes = real is not builtins.open or any(c in (args[1] if len(args) > 1 else kwargs.get("mode", "r")) for c in "wax")
        if writes and saves[0] == SAVE:
            if events[0] == EVENT:
                sys.stdout.write(f"killed before {{real.__name__}} {{args[0]}}\\n")
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            events[0] += 1
        return real(*args, **kwargs)
    return wrapped

CheckpointStore.save = counted
builtins.open, os.rename = file_event(builtins.open), file_event(os.rename)
sys.exit(main(["sweep", {spec!r}, "--out", {out!r}, "--quiet"]))
"""


@pytest.mark.slow
def test_a_kill_between_any_two_files_of_a_save_resumes_bit_identical(spec_file, full, tmp_path):
    """An Orbax save writes six files and makes two renames that Python sees (step metadata, the tree's metadata,
    commit markers, the two atomic renames). One `lab sweep` after another is killed before the k-th of these
    in its third save, k = 0..7, and the run still ends bit-identical to an uninterrupted one."""
    run_dir, killed = tmp_path / "run", []
    for event in range(8):
        script = KILL_INSIDE_SAVE.format(save=3, event=event, spec=str(spec_file), out=str(run_dir))
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == -signal.SIGKILL, (event, result.stdout, result.stderr[-2000:])
        killed.append(result.stdout.strip().splitlines()[-1])
        lab.open(run_dir)  # every state a kill leaves is a readable run
    # Orbax finishes a save on a thread of its own, so which file comes k-th varies; every kill is inside a save,
    # before files of at least four kinds, one of them an atomic rename.
    kinds = {(line.split()[2], Path(line.split()[3]).name) for line in killed}
    assert all(".orbax-checkpoint-tmp" in line for line in killed) and len(kinds) >= 4, killed
    assert any(op == "rename" for op, _ in kinds), killed
    final = subprocess.run([sys.executable, "-m", "lab.cli", "sweep", str(spec_file), "--out", str(run_dir), "--quiet"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
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
