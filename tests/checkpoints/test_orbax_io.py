"""lab.checkpoints.orbax_io: saves that survive a full disk and a kill before any of their files, and unreadable or
corrupted checkpoints that are named, set aside, or fallen back from."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import lab
from lab.checkpoints.orbax_io import CheckpointStore
from lab.cli import main
from lab.errors import LabError
from lab.launch.runner import run_sweep
from lab.sweeps import load_spec
from tests.helpers import ROOT, assert_same_run, interrupted_run, stop_after

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


def _corrupt(step_dir: Path) -> None:
    for f in step_dir.rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"garbage")


def test_a_full_disk_during_a_save_is_one_line_and_loses_nothing(fault_spec, fault_run, tmp_path, monkeypatch, capsys):
    real, saves = CheckpointStore.save, []

    def disk_full(self, step, state):
        saves.append(step)
        if len(saves) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / str(step)))
        return real(self, step, state)

    monkeypatch.setattr(CheckpointStore, "save", disk_full)
    run_dir = tmp_path / "run"
    assert main(["sweep", str(fault_spec), "--out", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "run the same command to resume" in err[0]
    monkeypatch.undo()
    assert main(["sweep", str(fault_spec), "--out", str(run_dir), "--quiet"]) == 0
    assert_same_run(fault_run, run_dir)


@pytest.mark.slow
def test_a_kill_between_any_two_files_of_a_save_resumes_bit_identical(fault_spec, fault_run, tmp_path):
    """An Orbax save writes six files and makes two renames that Python sees (step metadata, the tree's metadata,
    commit markers, the two atomic renames). One `lab sweep` after another is killed before the k-th of these
    in its third save, k = 0..7, and the run still ends bit-identical to an uninterrupted one."""
    run_dir, killed = tmp_path / "run", []
    for event in range(8):
        script = KILL_INSIDE_SAVE.format(save=3, event=event, spec=str(fault_spec), out=str(run_dir))
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == -signal.SIGKILL, (event, result.stdout, result.stderr[-2000:])
        killed.append(result.stdout.strip().splitlines()[-1])
        lab.open(run_dir)  # every state a kill leaves is a readable run
    # Orbax finishes a save on a thread of its own, so which file comes k-th varies; every kill is inside a save,
    # before files of at least four kinds, one of them an atomic rename.
    kinds = {(line.split()[2], Path(line.split()[3]).name) for line in killed}
    assert all(".orbax-checkpoint-tmp" in line for line in killed) and len(kinds) >= 4, killed
    assert any(op == "rename" for op, _ in kinds), killed
    final = subprocess.run([sys.executable, "-m", "lab.cli", "sweep", str(fault_spec), "--out", str(run_dir), "--quiet"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert_same_run(fault_run, run_dir)


def test_a_corrupted_middle_checkpoint_does_not_stop_the_resume_and_is_named_when_read(fault_spec, fault_run, tmp_path,
                                                                                      monkeypatch):
    from lab.errors import LabError

    stop_after(monkeypatch, 300)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_spec(fault_spec), tmp_path / "run", progress=False)
    monkeypatch.undo()
    steps = lab.open(tmp_path / "run").steps
    middle = steps[len(steps) // 2]
    for f in (tmp_path / "run" / "group_000" / "checkpoints" / str(middle)).rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"garbage")
    run_sweep(load_spec(fault_spec), tmp_path / "run", progress=False)  # resumes from the newest, which is intact
    resumed = lab.open(tmp_path / "run")
    np.testing.assert_array_equal(resumed.params(0)["W_in"], fault_run.params(0)["W_in"])
    with pytest.raises(LabError, match=f"checkpoint of step {middle} .* could not be read"):
        resumed.params(0, middle)


def test_corrupt_checkpoint_gets_a_clear_error(spec_factory, tmp_path):
    out = run_sweep(spec_factory(seeds=1), tmp_path / "run", progress=False)
    run = lab.open(out)
    last = run.steps[-1]
    for f in (out / "group_000" / "checkpoints" / str(last)).rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"garbage")
    with pytest.raises(LabError, match=f"checkpoint of step {last} .* could not be read"):
        lab.open(out).params(0, last)


def test_an_unreadable_newest_checkpoint_is_moved_aside_and_the_run_ends_bit_identical(spec_factory, tmp_path,
                                                                                     monkeypatch, capsys):
    spec = spec_factory(steps=60, seeds=2)
    full = lab.open(run_sweep(spec, tmp_path / "full", progress=False))
    interrupted_run(spec, tmp_path / "run", monkeypatch)
    saved = lab.open(tmp_path / "run").steps
    _corrupt(tmp_path / "run" / "group_000" / "checkpoints" / str(saved[-1]))
    capsys.readouterr()
    resumed = lab.open(run_sweep(spec, tmp_path / "run", progress=True))
    said = "".join(capsys.readouterr())
    assert f"the checkpoint of step {saved[-1]} could not be read: moved it to" in said
    assert resumed.unreadable_steps == {0: [f"unreadable_step_{saved[-1]}"]}  # kept, not deleted
    assert resumed.steps == full.steps
    for step in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(step), resumed.state(step))
    cols = ["step", "model", "train_loss", "test_loss", "weight_norm"]
    np.testing.assert_array_equal(full.metrics[cols].to_numpy(), resumed.metrics[cols].to_numpy())  # each step once
