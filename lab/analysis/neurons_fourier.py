"""Fourier analysis of one model over the full (a, b) grid: inputs, neuron activations, logits, summary.

Array functions are pure jnp for one model (configs static): `jax.vmap` them over a leading
model axis or over saved steps. `summarize` returns host numpy.

    act_PxPxN = neuron_activations_grid(run.model(0))   # or (params, spec)
    dominant_N, fraction_N = neuron_frequencies(fourier_2d(act_PxPxN, p), p)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lab import models, tasks
from lab.analysis.fourier import (
    _check_modular,
    _embedding_weights,
    fourier_2d,
    frequency_norms,
    key_frequencies,
    neuron_frequencies,
)
from lab.analysis.target import params_and_spec, spec_of
from lab.config import ModelConfig, Spec, TaskConfig


def _grid_inputs(model_cfg: ModelConfig, task_cfg: TaskConfig) -> jax.Array:
    """Every pair (a, b) of Z_p in row-major order (a slow, b fast), as the model reads them.

    Args:
        model_cfg: the model config: transformers read tokens (`tasks.token_sequences`: [a, b, p] by default),
            MLPs read operands [a, b].
        task_cfg: the task config (a modular task).

    Returns:
        int32 [p * p, task.n_ctx] (transformer) or [p * p, 2] (MLP); row a * p + b is the pair (a, b).
    """
    _check_modular(task_cfg)
    p = task_cfg.p
    a_PxP, b_PxP = jnp.meshgrid(jnp.arange(p, dtype=jnp.int32), jnp.arange(p, dtype=jnp.int32), indexing="ij")
    ab_Nx2 = jnp.stack([a_PxP.ravel(), b_PxP.ravel()], axis=1)
    if models.as_tokens(model_cfg):  # task.sequence's tokens; a c token (eos_a_op_b_eq_c) is 0: the answer's logits
        return tasks.token_sequences(task_cfg, ab_Nx2, jnp.zeros((p * p,), jnp.int32))  # at "=" never read it
    return ab_Nx2


def _neuron_activations_grid(
    params: dict[str, Any], model_cfg: ModelConfig, task_cfg: TaskConfig, layer: int | str = "auto"
) -> jax.Array:
    """Post-activations of an MLP layer's neurons over the full (a, b) grid.

    Transformer: `block_{layer}_mlp/mlp_post` at the last ('=') position; MLP:
    `mlp_post_{layer}`. The default "auto" is the last layer.

    Args:
        params: one model's parameters.
        model_cfg: the model config (static).
        task_cfg: the task config (a modular task; static).
        layer: "auto" (the last), or a layer index (negative counts from the end).

    Returns:
        act_PxPxN [p, p, N]: act[a, b] is the activation on the input (a, b); N = d_mlp or width.
    """
    p = task_cfg.p
    name = models.site_name(model_cfg, "mlp_post", None if layer == "auto" else int(layer))
    _, acts = models.run_with_cache(params, _grid_inputs(model_cfg, task_cfg), model_cfg, task_cfg, names=[name])
    act_BxN = acts[name][:, -1] if model_cfg.kind == "transformer" else acts[name]
    return act_BxN.reshape(p, p, act_BxN.shape[-1])


def _logits_grid(params: dict[str, Any], model_cfg: ModelConfig, task_cfg: TaskConfig) -> jax.Array:
    """The logits of every (a, b) pair, [p, p, C] (C = p classes), row-major as `grid_inputs`."""
    p = task_cfg.p
    logits_BxC = models.apply(params, _grid_inputs(model_cfg, task_cfg), model_cfg, task_cfg)
    return logits_BxC.reshape(p, p, logits_BxC.shape[-1])


def _summary_arrays(params, model_cfg: ModelConfig, task_cfg: TaskConfig) -> dict[str, Any]:
    """The device half of `summarize`: spectra and per-neuron frequencies of one model."""
    p = task_cfg.p
    weights = _embedding_weights(params, model_cfg, task_cfg)
    norms = {name: frequency_norms(w_PxW, p) for name, w_PxW in weights.items()}
    combined_K = jnp.sqrt(sum(jnp.square(n_K) for n_K in norms.values()))
    coef_PxPxN = fourier_2d(_neuron_activations_grid(params, model_cfg, task_cfg), p)
    dominant_N, fraction_N = neuron_frequencies(coef_PxPxN, p)
    return {"norms": norms, "combined": combined_K, "dominant": dominant_N, "fraction": fraction_N}


_summary_jit = jax.jit(_summary_arrays, static_argnums=(1, 2))


def _summarize(
    params: dict[str, Any], model_cfg: ModelConfig, task_cfg: TaskConfig, coverage: float = 0.9
) -> dict[str, Any]:
    """`summarize` of one model's params with its model and task configs."""
    out = jax.device_get(_summary_jit(params, model_cfg, task_cfg))
    freqs, fraction = key_frequencies(out["combined"], coverage)
    dominant_N = np.asarray(out["dominant"])
    return {
        "embed_norms": {name: np.asarray(n_K) for name, n_K in out["norms"].items()},
        "norms": np.asarray(out["combined"]),
        "key_freqs": freqs,
        "key_fraction": fraction,
        "neuron_freq": dominant_N,
        "neuron_fraction": np.asarray(out["fraction"]),
        "neurons_per_freq": np.bincount(dominant_N, minlength=task_cfg.p // 2 + 1),
    }


def grid_inputs(spec: Any) -> jax.Array:
    """Every (a, b) pair of a modular task, row a * p + b, as the model reads them ([a, b] or [a, b, =]).

    spec: a `lab.config.Spec` or `run.model(i)`."""
    spec = spec_of(spec)
    return _grid_inputs(spec.model, spec.task)


def neuron_activations_grid(model: Any, spec: Spec | None = None, *, layer: int | str = "auto") -> jax.Array:
    """Post-activations of an MLP layer's neurons over the full (a, b) grid, act_PxPxN [p, p, N].

    model: `run.model(i, step)`, or params with their `spec` (pure jnp: vmaps over stacked params);
    layer: "auto" (the last) or an index (negative counts from the end). Transformers: at the '=' position.
    """
    params, spec = params_and_spec(model, spec)
    return _neuron_activations_grid(params, spec.model, spec.task, layer)


def logits_grid(model: Any, spec: Spec | None = None) -> jax.Array:
    """The logits of every (a, b) pair, [p, p, C], row-major as `grid_inputs` (vmaps over stacked params)."""
    params, spec = params_and_spec(model, spec)
    return _logits_grid(params, spec.model, spec.task)


def summarize(model: Any, spec: Spec | None = None, *, coverage: float = 0.9) -> dict[str, Any]:
    """The Fourier picture of one model, as host numpy: spectra, key frequencies, neuron frequencies.

    Args:
        model: `run.model(i, step)`, or one model's params with their `spec`.
        coverage: the share of the embedding's non-constant squared norm the key frequencies explain.

    Returns:
        A dict with
        - "embed_norms": {name: [K + 1]} frequency norms of each `embedding_weights` entry;
        - "norms": [K + 1] the combined spectrum (root of the summed squares over the entries);
        - "key_freqs", "key_fraction": `key_frequencies` of the combined spectrum;
        - "neuron_freq", "neuron_fraction": [N] each last-layer neuron's dominant frequency
          and the fraction of its non-constant variance that frequency explains;
        - "neurons_per_freq": [K + 1] how many neurons have each dominant frequency.
    """
    params, spec = params_and_spec(model, spec)
    return _summarize(params, spec.model, spec.task, coverage)
