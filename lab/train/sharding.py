"""The model axis over devices: a 1-D mesh, padding to a multiple of the device count, and the
moves between host arrays (what checkpoints and metrics hold) and sharded device arrays."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lab.errors import LabError

AXIS = "models"
ONE_THREAD_FLAG = "--xla_cpu_multi_thread_eigen=false"  # XLA:CPU runs each device's ops on one thread


def use_cpu_devices(n: int) -> None:
    """Run on n CPU devices of one thread each (`lab sweep --cpu-devices n`): on a multi-core CPU, many small models
    train faster with each device training its share of a group's models than on one device that splits every
    small op over the cores. Must come before JAX starts its backends (a LabError says so otherwise)."""
    if n < 1:
        raise LabError(f"--cpu-devices must be at least 1 (got {n})")
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:
        raise LabError("--cpu-devices must be given before JAX has started (run `lab sweep` in a fresh process)") from None
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + ONE_THREAD_FLAG).strip()


def model_mesh(devices=None) -> Mesh:
    """A 1-D mesh named "models" over every device of every process (or the given ones)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (AXIS,))


def padded_size(n_models: int, mesh: Mesh) -> int:
    """n_models rounded up to a multiple of the mesh's device count."""
    return -(-n_models // mesh.size) * mesh.size


def pad_models(tree: Any, n_padded: int) -> Any:
    """Host arrays [M, ...] -> [n_padded, ...], repeating the last model (its copies are masked out)."""

    def pad(x):
        x = np.asarray(x)
        extra = n_padded - x.shape[0]
        return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)]) if extra else x

    return jax.tree.map(pad, tree)


def _put(tree: Any, sharding: NamedSharding) -> Any:
    """Host arrays (the same on every process) -> global arrays laid out by sharding."""

    def put(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(put, tree)


def to_mesh(tree: Any, mesh: Mesh) -> Any:
    """Host arrays with a leading model axis -> global arrays sharded over the mesh (any process count)."""
    return _put(tree, NamedSharding(mesh, PartitionSpec(AXIS)))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Host arrays -> global arrays with a full copy on every device of the mesh."""
    return _put(tree, NamedSharding(mesh, PartitionSpec()))


def to_host(tree: Any, n_models: int) -> Any:
    """Global arrays -> numpy on every process, the padding models dropped."""
    if jax.process_count() > 1:
        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(lambda x: np.asarray(x)[:n_models], jax.device_get(tree))
