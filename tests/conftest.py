"""Shared test settings: strict rank promotion, the number of worker processes, and the fixtures that several test
modules use."""

import os

import jax
import matplotlib.pyplot as plt
import pytest

from tests.helpers import FAULT_SPEC, LRS, tiny_spec

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject.toml): a worker per core, at most four, since each worker compiles its own programs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(4, cores)


@pytest.fixture
def spec_factory():
    return tiny_spec


@pytest.fixture(scope="session")
def lr_run(tmp_path_factory):
    """A tiny sweep over two learning rates x 2 seeds, launched with `lab.sweep` (40 steps)."""
    import lab

    out = tmp_path_factory.mktemp("lr_run") / "run"
    return lab.sweep(tiny_spec(seeds=2), out=out, set={"sweep.train.lr": list(LRS), "train.steps": 40}, progress=False)


@pytest.fixture(scope="session")
def fault_spec(tmp_path_factory):
    """The fault suite's spec (helpers.FAULT_SPEC) as a TOML file."""
    path = tmp_path_factory.mktemp("spec") / "faults.toml"
    path.write_text(FAULT_SPEC)
    return path


@pytest.fixture(scope="session")
def fault_run(fault_spec, tmp_path_factory):
    """The fault suite's sweep, trained without interruption: what every faulted run must end identical to."""
    import lab
    from lab.launch.runner import run_sweep
    from lab.sweeps import load_spec

    return lab.open(run_sweep(load_spec(fault_spec), tmp_path_factory.mktemp("fault_run") / "run", progress=False))


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test opens is closed after it."""
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)
