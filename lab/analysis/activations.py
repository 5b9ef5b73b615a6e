"""Activation tables of one model over a set of inputs: every neuron of an MLP layer and the last
block's attention patterns, computed in jitted chunks of rows so memory stays bounded.

    m = run.model(0)
    acts_NxF = activation_table(m)                        # every (a, b) pair, row a * p + b: [p * p, F] numpy
    acts_NxF = activation_table(params, spec, x=x)        # params with their spec, on inputs of your own
    x = complete_inputs(spec)                             # modular: every (a, b), row a * p + b
    x, y = sample_dataset(spec, 4096, key)                # parity: random +-1 bit vectors

The tables are host numpy (float32), ready for `lab.analysis.universality`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lab import models
from lab.analysis.neurons_fourier import _grid_inputs
from lab.analysis.progress import grid_labels
from lab.analysis.target import params_and_spec, spec_of
from lab.config import ModelConfig, Spec, TaskConfig
from lab.errors import LabError
from lab.tasks.parity import code_bits, random_bits01


def map_chunks(fn: Callable[..., Any], *arrays: Any, chunk: int = 4096) -> Any:
    """fn over row chunks of arrays (same leading length N), results concatenated on the host.

    Args:
        fn: a (jitted) function of one chunk of each array, returning a pytree of [rows, ...] arrays.
        arrays: arrays with the same leading length N.
        chunk: rows per call; every call gets exactly min(chunk, N) rows (the last chunk is padded
            with copies of row 0 and trimmed), so fn compiles once.

    Returns:
        fn's pytree with every leaf a numpy array of N rows.
    """
    n = arrays[0].shape[0]
    if chunk < 1:
        raise LabError(f"chunk must be at least 1 (got {chunk})")
    if any(a.shape[0] != n for a in arrays):
        raise LabError(f"arrays must have the same number of rows (got {[a.shape[0] for a in arrays]})")
    if n == 0:
        raise LabError("map_chunks needs at least one row")
    size = min(chunk, n)
    n_pad = -n % size
    padded = [jnp.concatenate([jnp.asarray(a), jnp.repeat(jnp.asarray(a)[:1], n_pad, axis=0)]) if n_pad
              else jnp.asarray(a) for a in arrays]
    outs = [jax.device_get(fn(*(a[start:start + size] for a in padded))) for start in range(0, n + n_pad, size)]
    return jax.tree.map(lambda *leaves: np.concatenate([np.asarray(v) for v in leaves])[:n], *outs)


def mlp_layer_name(model_cfg: ModelConfig, layer: int | None = None) -> str:
    """The site name of an MLP layer's post-activations (`mlp_post_L` or `block_L_mlp/mlp_post`).

    Args:
        model_cfg: the model config.
        layer: a layer index (negative counts from the end); None is the last layer.

    Returns:
        The key of the cache `lab.models.run_with_cache` returns.
    """
    return models.site_name(model_cfg, "mlp_post", None if layer is None else int(layer))


def _named_acts(params, x, model_cfg: ModelConfig, task_cfg: TaskConfig, name: str) -> jax.Array:
    """One named activation at the last position (transformers), [B, ...]."""
    _, acts = models.run_with_cache(params, x, model_cfg, task_cfg)
    act = acts[name]
    return act[:, -1] if model_cfg.kind == "transformer" and name.endswith("mlp_post") else act


_named_acts_jit = jax.jit(_named_acts, static_argnums=(2, 3, 4))


def activation_table(model: Any, spec: Spec | None = None, *, x: Any = None, layer: int | None = None,
                     chunk: int = 4096) -> np.ndarray:
    """The post-activations of every neuron of an MLP layer over inputs x, in jitted chunks.

    Args:
        model: `run.model(i, step)`, or one model's params with `spec` (`run.spec_of(i)`).
        x: inputs [N, ...] as the model reads them (default: `default_dataset`'s: every pair, or 4096
            parity rows).
        layer: the MLP layer (negative counts from the end); None is the last: `mlp_post_{depth-1}`
            of an MLP, `block_{n_layers-1}_mlp/mlp_post` of a transformer (at the last position).
        chunk: rows per forward pass.

    Returns:
        acts_NxF float32 numpy [N, F] (F = width or d_mlp).
    """
    params, spec = params_and_spec(model, spec)
    x = default_dataset(spec)[0] if x is None else x
    name = mlp_layer_name(spec.model, layer)
    params = jax.device_put(params)  # once, not per chunk
    return map_chunks(lambda x_c: _named_acts_jit(params, x_c, spec.model, spec.task, name), x, chunk=chunk)


def _last_pattern(params, x, model_cfg: ModelConfig, task_cfg: TaskConfig) -> jax.Array:
    """The last block's attention pattern from the last position, [B, H, L]."""
    _, acts = models.run_with_cache(params, x, model_cfg, task_cfg, names=[models.site_name(model_cfg, "attn_pattern")])
    return acts["attn_pattern", -1][:, :, -1]


_last_pattern_jit = jax.jit(_last_pattern, static_argnums=(2, 3))


def head_table(model: Any, spec: Spec | None = None, *, x: Any = None, chunk: int = 4096) -> np.ndarray:
    """The attention pattern of each head of a transformer's last block, from the last position.

    Args:
        model: `run.model(i, step)`, or one transformer's params with `spec`.
        x: tokens [N, L] (default: every pair).
        chunk: rows per forward pass.

    Returns:
        pattern_NxHxL float32 numpy: pattern[n, h, l] is head h's attention to position l.
    """
    params, spec = params_and_spec(model, spec)
    if spec.model.kind != "transformer":
        raise LabError(f"head_table reads attention heads; model.kind is {spec.model.kind!r}")
    x = default_dataset(spec)[0] if x is None else x
    params = jax.device_put(params)
    return map_chunks(lambda x_c: _last_pattern_jit(params, x_c, spec.model, spec.task), x, chunk=chunk)


def complete_inputs(spec: Any) -> jax.Array:
    """Every (a, b) pair of a table task, row a * p + b, as the model reads them ([a, b] or [a, b, p]).

    Args:
        spec: a `lab.config.Spec` or `run.model(i)` (transformers read tokens, MLPs operands); a modular or
            integer task.

    Returns:
        int32 [p * p, 2] (MLP) or [p * p, 3] (transformer), as `lab.analysis.grid_inputs`.
    """
    spec = spec_of(spec)
    if not spec.task.is_table:
        raise LabError(f"complete_inputs needs a modular or integer task (got {spec.task.name!r}); "
                       f"use sample_inputs for parity")
    return _grid_inputs(spec.model, dataclasses.replace(spec.task, name="modular"))  # the same pairs for both


def complete_dataset(spec: Any) -> tuple[jax.Array, np.ndarray]:
    """Every labelled (a, b) pair of a table task: `complete_inputs` and their labels.

    Pairs without a label (y = 0 for x/y) are left out, so rows are a * p + b only when every pair has one.

    Returns:
        (x [N, 2 or 3] int32, y [N] int64 class indices).
    """
    spec = spec_of(spec)
    x = complete_inputs(spec)
    y_N = grid_labels(spec.task)
    keep_N = y_N >= 0
    return (x if keep_N.all() else x[np.flatnonzero(keep_N)]), y_N[keep_N]


def sample_dataset(spec: Any, n: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """n random inputs of a sparse parity task with their labels, as the task draws them.

    Args:
        spec: a `lab.config.Spec` or `run.model(i)`: a parity task, read by an MLP.
        n: number of rows (distinct when n_bits <= 20).
        key: a PRNG key.

    Returns:
        (x [n, n_bits] float32 coded as the task codes them (+-1 with bit 1 as -1, or 0/1 with task.bits =
        "01"), y [n] int32: the parity of the first k bits).
    """
    spec = spec_of(spec)
    task_cfg = spec.task
    if task_cfg.name != "parity":
        raise LabError(f"sample_dataset draws parity inputs (got task {task_cfg.name!r}); "
                       f"use complete_inputs for modular tasks")
    if spec.model.kind != "mlp":
        raise LabError(f"parity tasks are read by MLPs (got model.kind {spec.model.kind!r})")
    if task_cfg.n_bits <= 20 and n > 2**task_cfg.n_bits:
        raise LabError(f"n = {n} is more than the {2**task_cfg.n_bits} distinct inputs of {task_cfg.n_bits} bits")
    bits01_NxB = random_bits01(key, n, task_cfg.n_bits)
    y_N = (jnp.sum(bits01_NxB[:, : task_cfg.k], axis=1) % 2).astype(jnp.int32)
    return code_bits(task_cfg, bits01_NxB), y_N


def sample_inputs(spec: Any, n: int, key: jax.Array) -> jax.Array:
    """n random inputs of a sparse parity task, [n, n_bits] float32 as the task codes them (see `sample_dataset`)."""
    return sample_dataset(spec, n, key)[0]


def default_dataset(spec: Any, n: int = 4096, key: jax.Array | None = None) -> tuple[Any, Any]:
    """Inputs and labels an analysis reads by default: every pair of a table task, or n random rows of a parity
    task (key default jax.random.key(0))."""
    spec = spec_of(spec)
    if spec.task.is_table:
        return complete_dataset(spec)
    return sample_dataset(spec, n, jax.random.key(0) if key is None else key)


def dataset_or_default(spec: Any, x: Any, y: Any) -> tuple[Any, Any]:
    """(x, y) as given, or `default_dataset(spec)` when neither is."""
    if (x is None) != (y is None):
        raise LabError("give both x and y (inputs and their labels), or neither for the default dataset")
    return default_dataset(spec) if x is None else (x, y)


__all__ = [
    "activation_table",
    "complete_dataset",
    "complete_inputs",
    "dataset_or_default",
    "default_dataset",
    "head_table",
    "map_chunks",
    "mlp_layer_name",
    "sample_dataset",
    "sample_inputs",
]
