"""Tests of the `lab` command: help, one-line user errors, and a sweep end to end."""

from __future__ import annotations

import subprocess
import sys

import jax

import lab
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


def test_cpu_devices_trains_on_that_many_devices_and_is_refused_once_jax_has_started(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text('[task]\np = 11\ntrain_frac = 0.5\n[model]\nkind = "mlp"\nd_embed = 8\nwidth = 16\n'
                    "[train]\nsteps = 20\nlog_every = 10\ncheckpoints = 2\n[sweep]\nseeds = 3\n")
    result = _lab("sweep", str(spec), "--out", str(tmp_path / "two"), "--quiet", "--cpu-devices", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 models in 1 group(s), 20 steps on 2 CPU device(s)" in result.stdout
    assert len(lab.open(tmp_path / "two").grid) == 3  # padded to 4 on the devices, 3 saved
    jax.numpy.zeros(1).block_until_ready()  # this process has started JAX: the option cannot apply any more
    assert main(["sweep", str(spec), "--out", str(tmp_path / "one"), "--cpu-devices", "2"]) == 2
    assert "--cpu-devices must be given before JAX has started" in capsys.readouterr().err
    assert not (tmp_path / "one").exists()
