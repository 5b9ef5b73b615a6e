"""lab.checkpoints.claim: one writer per run directory; a live writer refuses a second at once, a dead one never
blocks."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import lab
from lab.checkpoints.claim import LOCK_FILE, claim
from lab.cli import main
from lab.errors import LabError
from lab.launch.runner import run_sweep


def test_a_second_writer_is_refused_while_the_first_lives(spec_factory, tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom lab.checkpoints.claim import claim\n"
                               f"with claim({str(run_dir)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LabError, match=rf"is being written by `lab sweep` pid {holder.pid} on "):
            run_sweep(spec_factory(), run_dir, progress=False)
        assert [p.name for p in run_dir.iterdir()] == [LOCK_FILE]  # nothing else was written
    finally:
        holder.kill()
        holder.wait()
    run = lab.open(run_sweep(spec_factory(), run_dir, progress=False))  # the killed writer's claim is gone
    assert run.steps[-1] == spec_factory().train.steps


def test_a_claim_in_this_process_refuses_and_then_releases(spec_factory, tmp_path):
    with claim(tmp_path / "run"):
        with pytest.raises(LabError, match="is being written by"):
            run_sweep(spec_factory(), tmp_path / "run", progress=False)
    start = time.time()
    run_sweep(spec_factory(), tmp_path / "run", progress=False)
    assert time.time() - start < 120  # no waiting on a stale claim
    assert "pid" in (tmp_path / "run" / LOCK_FILE).read_text()  # who wrote it last


def test_out_naming_a_file_is_one_line_and_keeps_the_file(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text('[task]\np = 11\n[model]\nkind = "mlp"\nwidth = 8\nd_embed = 4\n[train]\nsteps = 10\nlog_every = 5\n')
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    assert main(["sweep", str(spec), "--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and err.strip().count("\n") == 0
    assert target.read_text() == "keep me"
    assert main(["sweep", str(spec), "--out", str(target / "run"), "--quiet"]) == 2
    assert "cannot write the run directory" in capsys.readouterr().err
