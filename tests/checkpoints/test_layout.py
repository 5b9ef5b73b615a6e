"""lab.checkpoints.layout: the run directory; an unwritable one is a one-line error, a copied one resumes where it
lies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab.cli import main
from lab.launch.runner import run_sweep
from lab.sweeps import load_spec
from tests.helpers import assert_same_run, stop_after


def test_an_unwritable_directory_is_one_line(fault_spec, capsys):
    # The tests run as root, who may write anywhere but sysfs: no one can make a folder in /sys.
    out = Path("/sys/lab_run")
    assert main(["sweep", str(fault_spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lab: error: cannot write the run directory {out} (") and err.count("\n") == 1, err
    assert "pass another --out" in err and not out.exists()


def test_a_run_directory_copied_to_another_place_resumes_there(fault_spec, fault_run, tmp_path, monkeypatch):
    stop_after(monkeypatch, 170)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(load_spec(fault_spec), tmp_path / "here", progress=False)
    monkeypatch.undo()
    shutil.copytree(tmp_path / "here", tmp_path / "elsewhere" / "run")
    before = sorted(str(p.relative_to(tmp_path / "here")) for p in (tmp_path / "here").rglob("*"))
    run_sweep(load_spec(fault_spec), tmp_path / "elsewhere" / "run", progress=False)
    assert_same_run(fault_run, tmp_path / "elsewhere" / "run")
    assert sorted(str(p.relative_to(tmp_path / "here")) for p in (tmp_path / "here").rglob("*")) == before
