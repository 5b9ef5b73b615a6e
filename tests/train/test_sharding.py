"""lab.train.sharding: the model axis sharded over four host devices, and two processes with gloo collectives, equal
to one device."""

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
from lab.train import sharding
from tests.helpers import ROOT

TWO_PROCESSES = textwrap.dedent(
    """
    import sys, jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize("127.0.0.1:{port}", num_processes=2, process_id={pid})
    sys.path.insert(0, {root!r})
    from tests.helpers import tiny_spec
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


FOUR_DEVICES = textwrap.dedent(
    """
    import sys, jax, numpy as np
    sys.path.insert(0, {root!r})
    from tests.helpers import tiny_spec
    from lab.sweeps import expand
    from lab.launch.runner import run_sweep
    from lab.train import build_programs, sharding

    assert jax.device_count() == 4, jax.devices()
    spec = tiny_spec(seeds=3, axes=[("train.weight_decay", (0.0, 1.0))])  # 6 models: padded to 8
    (group,) = expand(spec)
    mesh = sharding.model_mesh()
    hp = sharding.to_mesh(sharding.pad_models(group.hparams(), sharding.padded_size(6, mesh)), mesh)
    programs = build_programs(group.spec, group.n_train_max())
    state, data = programs.init(hp), programs.data(hp)
    state, metrics = programs.chunk(state, data, hp)
    for leaf in jax.tree.leaves(state.params) + [metrics["train_loss"]]:
        assert leaf.shape[0] == 8 and len(leaf.sharding.device_set) == 4, leaf.sharding
        assert leaf.addressable_shards[0].data.shape[0] == 2  # two models per device
    run_sweep(spec, {out!r}, progress=False)
    print("ok")
    """
)


def test_two_processes_equal_one(spec_factory, tmp_path):
    out, port = tmp_path / "two_processes", _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", TWO_PROCESSES.format(port=port, pid=pid, root=str(ROOT),
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


def test_sharded_sweep_equals_single_device(spec_factory, tmp_path):
    out = tmp_path / "four_devices"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    script = FOUR_DEVICES.format(root=str(ROOT), out=str(out))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]

    spec = spec_factory(seeds=3, axes=[("train.weight_decay", (0.0, 1.0))])
    one = lab.open(run_sweep(spec, tmp_path / "one_device", progress=False))
    four = lab.open(out)
    assert len(four.grid) == 6 and four.steps == one.steps  # the padding models are not saved
    cols = ["train_loss", "test_loss", "train_acc", "weight_norm"]
    # Another device count may sum in another order: equal to float tolerance, not bit for bit.
    np.testing.assert_allclose(four.metrics[cols].to_numpy(), one.metrics[cols].to_numpy(), rtol=1e-4, atol=1e-6)
    for model in range(6):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                     four.params(model), one.params(model))


def test_padding_repeats_the_last_model():
    mesh = sharding.model_mesh()
    assert sharding.padded_size(6, mesh) == -(-6 // jax.device_count()) * jax.device_count()
    padded = sharding.pad_models({"w": np.arange(3.0)}, 5)
    np.testing.assert_array_equal(padded["w"], [0, 1, 2, 2, 2])
    back = sharding.to_host(sharding.to_mesh({"w": np.arange(4.0)}, mesh), 3)
    np.testing.assert_array_equal(back["w"], [0, 1, 2])
