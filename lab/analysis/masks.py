"""Batched neuron ablations: the loss and accuracy of one model under many neuron masks at once (one
jitted forward pass vmapped over a stack of masks), and random neuron sets for baselines.

    spec = ablation_spec(model_cfg, mode="mean", mean_acts=means)              # values, layer, heads
    loss_M, acc_M = scores_under_masks(params, model_cfg, task_cfg, x, y, masks_MxF, spec)

Used by `lab.analysis.ablation` (random baselines) and `lab.analysis.attribution` (patching,
smallest sets, ablation curves).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lab import models
from lab.analysis.activations import map_chunks
from lab.config import ModelConfig, TaskConfig
from lab.errors import LabError
from lab.train.losses import accuracy, per_example_loss

MEMORY_FLOATS = 2**25  # a vmapped chunk's [batch, rows, F + C] activations stay under ~128 MiB


def n_neurons_of(model_cfg: ModelConfig) -> int:
    """Neurons of the ablatable layer: the MLP's width or the transformer's d_mlp."""
    return model_cfg.d_mlp if model_cfg.kind == "transformer" else model_cfg.width


def neuron_site_of(hooks: dict[str, Any]) -> str:
    """The neuron (`mlp_post`) site among an `ablation_spec`'s hooks."""
    return next(name for name in hooks if name.rsplit("/", 1)[-1].startswith("mlp_post"))


def labels_of(x: Any, y: Any) -> jax.Array:
    """y as int32 [N], checked against x's rows."""
    y_N = jnp.asarray(np.asarray(y), jnp.int32)
    if y_N.ndim != 1 or y_N.shape[0] != x.shape[0]:
        raise LabError(f"y must be labels [N] for the N = {x.shape[0]} rows of x (got shape {tuple(y_N.shape)})")
    return y_N


def _masked_chunk(params, x, y_B, ablated_KxF, spec, model_cfg: ModelConfig, task_cfg: TaskConfig, loss: str):
    """Per-example loss and correctness under each of K neuron masks, [B, K] each."""

    neurons = neuron_site_of(spec)

    def one(ablated_F):
        logits_BxC = models.apply(params, x, model_cfg, task_cfg,
                                  {**spec, neurons: models.Replace(ablated_F, spec[neurons].value)})
        return per_example_loss(logits_BxC, y_B, loss), accuracy(logits_BxC, y_B)

    loss_KxB, correct_KxB = jax.vmap(one)(ablated_KxF)
    return loss_KxB.T, correct_KxB.T


_masked_chunk_jit = jax.jit(_masked_chunk, static_argnums=(5, 6, 7))


def _auto_batch(n_rows: int, chunk: int, model_cfg: ModelConfig, task_cfg: TaskConfig) -> int:
    """Masks per vmapped call so that [batch, rows, F + C] floats stay under MEMORY_FLOATS."""
    per_mask = min(chunk, n_rows) * (n_neurons_of(model_cfg) + task_cfg.n_classes)
    return max(1, MEMORY_FLOATS // per_mask)


def scores_under_masks(params: dict[str, Any], model_cfg: ModelConfig, task_cfg: TaskConfig, x: Any, y: Any,
                       ablated_MxF: np.ndarray, spec: dict[str, Any], loss: str = "cross_entropy",
                       chunk: int = 4096, batch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy over (x, y) under each of M neuron masks, [M] float64 each.

    One jitted forward pass vmapped over `batch` masks at a time (the last stack padded, so one
    compile); `spec` (`ablation_spec`) gives the replacement values, the layer and the heads.

    Args:
        params, model_cfg, task_cfg, x, y, loss, chunk: as in `ablate`.
        ablated_MxF: bool [M, F], one neuron mask per row.
        spec: the `ablation_spec` whose neuron mask each row replaces.
        batch: masks per call; None keeps [batch, rows, F + C] under ~128 MiB.
    """
    y_N = labels_of(x, y)
    n_m = ablated_MxF.shape[0]
    batch = _auto_batch(x.shape[0], chunk, model_cfg, task_cfg) if batch is None else int(batch)
    if batch < 1:
        raise LabError(f"batch must be at least 1 (got {batch})")
    batch = min(batch, max(n_m, 1))  # no masks: no call, empty scores
    params = jax.device_put(params)
    loss_M, acc_M = np.empty(n_m), np.empty(n_m)
    for start in range(0, n_m, batch):
        stack_KxF = ablated_MxF[start:start + batch]
        n_real = stack_KxF.shape[0]
        if n_real < batch:
            stack_KxF = np.concatenate([stack_KxF, np.repeat(stack_KxF[:1], batch - n_real, axis=0)])
        masks_KxF = jnp.asarray(stack_KxF)
        loss_NxK, correct_NxK = map_chunks(
            lambda x_c, y_c, masks=masks_KxF: _masked_chunk_jit(params, x_c, y_c, masks, spec, model_cfg, task_cfg,
                                                                loss), x, y_N, chunk=chunk)
        loss_M[start:start + n_real] = loss_NxK.mean(axis=0, dtype=np.float64)[:n_real]
        acc_M[start:start + n_real] = correct_NxK.mean(axis=0, dtype=np.float64)[:n_real]
    return loss_M, acc_M


def random_permutations(key: jax.Array, n_draws: int, n_f: int) -> np.ndarray:
    """n_draws random orders of the F neurons, int [n_draws, F]: draw d ablates its first k."""
    if n_draws == 0:
        return np.zeros((0, n_f), np.int64)
    return np.asarray(jax.vmap(lambda k: jax.random.permutation(k, n_f))(jax.random.split(key, n_draws)))


def first_k_masks(perms_DxF: np.ndarray, k: int) -> np.ndarray:
    """Masks [D, F] of each order's first k neurons."""
    return np.argsort(perms_DxF, axis=1) < k
