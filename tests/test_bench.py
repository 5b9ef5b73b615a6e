"""bench/: throughput.py's FLOP formula against the dots of lab's traced models, and gpu_checks.sh's steps (no
timing here)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def _throughput():
    """bench/throughput.py as a module (its dataclasses need it in sys.modules)."""
    if "throughput" not in sys.modules:
        spec = importlib.util.spec_from_file_location("throughput", ROOT / "bench" / "throughput.py")
        sys.modules["throughput"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["throughput"])
    return sys.modules["throughput"]


@pytest.mark.parametrize("workload", ["nanda", "pair_mlp", "parity", "multitask"])
@pytest.mark.parametrize("rows", [0, 40])  # 0: the workload's training set; 40: a transformer's per-row scores
def test_formula_laid_out_as_lab_runs_it_is_the_traced_count(workload, rows):
    bench = _throughput()
    spec = bench.WORKLOADS[workload].spec
    n_rows = rows or bench.n_train_max(spec)
    assert bench.dot_flops_as_run(spec, n_rows) == bench.traced_forward_flops(spec, n_rows)
    assert bench.forward_flops(spec, n_rows) <= bench.dot_flops_as_run(spec, n_rows)  # layouts add, never hide


def test_gpu_checks_script_names_its_steps_and_refuses_others(tmp_path):
    """bench/gpu_checks.sh parses, and an unknown step stops it before any step runs (the full script is run at toy
    sizes by hand: QUICK=1, ~2 minutes)."""
    script = ROOT / "bench" / "gpu_checks.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    done = subprocess.run(["bash", str(script), "nosuchstep"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path / "out"), "RUNS": str(tmp_path / "runs")})
    assert done.returncode == 2 and "unknown step 'nosuchstep'" in done.stderr
    assert not list((tmp_path / "out").iterdir())  # no step ran
