"""Multi-host: two processes on localhost with CPU collectives (gloo) train one sweep together."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np

import lab
from lab.launch.runner import run_sweep

SCRIPT = textwrap.dedent(
    """
    import sys, jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize("127.0.0.1:{port}", num_processes=2, process_id={pid})
    sys.path.insert(0, {tests!r})
    from conftest import tiny_spec
    from lab.launch.runner import run_sweep
    assert (jax.process_count(), jax.device_count(), jax.local_device_count()) == (2, 2, 1)
    run_sweep(tiny_spec(seeds=3, axes=[("train.weight_decay", (0.0, 1.0))]), {out!r}, progress=False)
    print("ok")
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(spec_factory, tmp_path):
    out, port = tmp_path / "two_processes", _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT.format(port=port, pid=pid, tests=os.path.dirname(__file__),
                                                               out=str(out))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for pid in (0, 1)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0 and stdout.strip().endswith("ok"), stderr[-3000:]

    one = lab.open(run_sweep(spec_factory(seeds=3, axes=[("train.weight_decay", (0.0, 1.0))]), tmp_path / "one",
                             progress=False))
    two = lab.open(out)
    assert len(two.grid) == 6 and two.steps == one.steps
    cols = ["train_loss", "test_loss", "train_acc", "weight_norm"]
    np.testing.assert_allclose(two.metrics[cols].to_numpy(), one.metrics[cols].to_numpy(), rtol=1e-4, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), two.params(5), one.params(5))
