"""Tests of the `lab` command: help, one-line user errors, and a sweep end to end."""

from __future__ import annotations

import subprocess
import sys

from lab.cli import main


def _lab(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_the_commands():
    result = _lab("--help")
    assert result.returncode == 0 and "sweep" in result.stdout


def test_user_errors_are_one_line_without_traceback(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text("[train]\nlearning_rate = 0.1\n")
    result = _lab("sweep", str(spec), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "unknown key 'train.learning_rate'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_sweep_end_to_end_and_resume_message(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        '[task]\np = 11\ntrain_frac = 0.5\n[model]\nkind = "mlp"\nd_embed = 8\nwidth = 16\n'
        "[train]\nsteps = 40\nlog_every = 10\ncheckpoints = 3\nlr = 1e-2\n[sweep]\nseeds = 2\n"
    )
    out = tmp_path / "run"
    assert main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2 models in 1 group(s)" in printed and f"results: {out}" in printed
    assert (out / "curves.png").stat().st_size > 10_000
    assert main(["sweep", str(spec), "--out", str(out), "--quiet", "--set", "train.lr=0.5"]) == 2
    assert "holds a run of another spec" in capsys.readouterr().err
