"""bench/throughput.py's FLOP formula against the dots of lab's traced models (no timing here)."""

from __future__ import annotations

import importlib.util
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
