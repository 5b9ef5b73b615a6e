"""Ablations: zero or mean-replace any set of MLP neurons (the last hidden layer of an MLP, or any
hidden layer with `layer=`; the last block's MLP of a transformer) and of attention heads (a
transformer's last block), and measure loss and accuracy; the same for random sets of neurons of
equal size, as the baseline.

    m = run.model(0)
    out = ablate(m, neurons=[3, 17], mode="mean")             # {"loss", "accuracy"} over every pair
    out = ablate(params, spec, x=x, y=y, heads=[1])           # params with their spec; zero head 1's output
    draws = random_ablation_baseline(m, n_neurons=2, n_draws=100)
    table = ablation_over_steps(run, 0, neurons=[3, 17])      # one row per saved step

The model does the replacing, through its hooks (`lab.models.apply(..., hooks=ablation_spec(...))`,
see `lab.models.sites`): a neuron's post-activation or a head's output z (before W_O) is set to 0 or
to its mean over the inputs, at the last position for transformers (the only one the readout sees).
Masks are arrays, so every ablation of a model shares one compiled forward pass.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from lab import models
from lab.analysis.activations import dataset_or_default, default_dataset, map_chunks, mlp_layer_name
from lab.analysis.masks import first_k_masks, labels_of, n_neurons_of, random_permutations, scores_under_masks
from lab.analysis.target import params_and_spec
from lab.config import ModelConfig, Spec, SpecError, TaskConfig
from lab.errors import LabError
from lab.train.losses import accuracy, per_example_loss

MODES = ("zero", "mean")


def _mask(units: Any, n: int, what: str) -> np.ndarray:
    """A bool mask [n] from indices or a bool mask (None: nothing)."""
    if units is None:
        return np.zeros(n, bool)
    units = np.asarray(units)
    if units.dtype == bool:
        if units.shape != (n,):
            raise LabError(f"a mask of {what} must have shape ({n},) (got {units.shape})")
        return units
    idx = units.astype(np.int64).ravel()
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise LabError(f"{what} indices must be in [0, {n}) (got {idx.min()}..{idx.max()})")
    mask = np.zeros(n, bool)
    mask[idx] = True
    return mask


def _mean_chunk(params, x, model_cfg: ModelConfig, task_cfg: TaskConfig, layer: int | None) -> dict[str, jax.Array]:
    """Per-example activations whose means mean ablation uses."""
    _, acts = models.run_with_cache(params, x, model_cfg, task_cfg)
    post = acts[mlp_layer_name(model_cfg, layer)]
    out = {"neurons": post[:, -1] if model_cfg.kind == "transformer" else post}
    if model_cfg.kind == "transformer":
        out["heads"] = acts["z", -1][:, -1]
    return out


_mean_chunk_jit = jax.jit(_mean_chunk, static_argnums=(2, 3, 4))


def neuron_layer(model_cfg: ModelConfig, layer: int | None) -> int | None:
    """The hidden layer whose neurons are ablated: None for the last (the default), else an MLP layer index."""
    if layer is None:
        return None
    n_layers = model_cfg.n_layers if model_cfg.kind == "transformer" else model_cfg.depth
    if not -n_layers <= int(layer) < n_layers:
        raise LabError(f"layer {layer} is out of range for a model of {n_layers} MLP layers")
    index = int(layer) % n_layers
    if model_cfg.kind == "transformer" and index != n_layers - 1:
        raise LabError(f"only the last block's neurons of a transformer can be ablated (layer {n_layers - 1}; "
                       f"got {layer}): earlier blocks are computed at every position")
    return None if index == n_layers - 1 else index


def mean_activations(model: Any, spec: Spec | None = None, *, x: Any = None, chunk: int = 4096,
                     layer: int | None = None) -> dict[str, np.ndarray]:
    """The mean over inputs x of what mean ablation replaces.

    Args:
        model: `run.model(i, step)`, or one model's params with `spec`.
        x: inputs [N, ...] (default: `default_dataset`).
        chunk: rows per forward pass.
        layer: the MLP hidden layer of the neurons (None: the last).

    Returns:
        {"neurons": [F]} post-activations of that MLP layer (last position) and, for
        transformers, "heads": [H, E] the last block's head outputs z at the last position.
    """
    params, spec = params_and_spec(model, spec)
    model_cfg, task_cfg = spec.model, spec.task
    x = default_dataset(spec)[0] if x is None else x
    params = jax.device_put(params)
    layer = neuron_layer(model_cfg, layer)
    per_row = map_chunks(lambda x_c: _mean_chunk_jit(params, x_c, model_cfg, task_cfg, layer), x, chunk=chunk)
    return {name: v.mean(axis=0, dtype=np.float64).astype(np.float32) for name, v in per_row.items()}


def ablation_spec(model_cfg: ModelConfig, neurons: Any = None, heads: Any = None, mode: str = "zero",
                  mean_acts: Any = None, layer: int | None = None) -> dict[str, Any]:
    """The hooks (`lab.models.apply`'s `hooks`) that ablate a set of neurons and heads.

    Args:
        model_cfg: the model config.
        neurons: indices (or a bool mask [F]) of the last MLP layer's neurons; None: none.
        heads: indices (or a bool mask [H]) of the last block's heads (transformers); None: none.
        mode: "zero" or "mean".
        mean_acts: mean mode's values: `mean_activations`' dict, or an [F] array of neuron means.
        layer: the MLP hidden layer of the neurons (None: the last; transformers: only the last).

    Returns:
        {neuron site: Replace(ablated_F, value_F)} (the `mlp_post` site of that layer) and for
        transformers {last block's z site: Replace(ablated_Hx1, value_HxE)}; entries are always present
        (all False when nothing is ablated) so compiles are shared.
    """
    if mode not in MODES:
        raise SpecError(f"mode must be 'zero' or 'mean' (got {mode!r})")
    is_transformer = model_cfg.kind == "transformer"
    if heads is not None and not is_transformer and np.size(heads):
        raise LabError("heads can be ablated only in transformers; this model is an MLP")
    n_f = n_neurons_of(model_cfg)
    means = mean_acts if isinstance(mean_acts, dict) or mean_acts is None else {"neurons": mean_acts}
    if mode == "mean" and means is None:
        raise LabError("mean ablation needs mean_acts (see mean_activations)")
    value_F = np.zeros(n_f, np.float32) if mode == "zero" else np.asarray(means["neurons"], np.float32)
    if value_F.shape != (n_f,):
        raise LabError(f"mean_acts['neurons'] must have shape ({n_f},) (got {value_F.shape})")
    spec = {mlp_layer_name(model_cfg, neuron_layer(model_cfg, layer)):
            models.Replace(jnp.asarray(_mask(neurons, n_f, "neuron")), jnp.asarray(value_F))}
    if is_transformer:
        shape = (model_cfg.n_heads, model_cfg.d_head)
        value_HxE = np.zeros(shape, np.float32) if mode == "zero" else np.asarray(means["heads"], np.float32)
        if value_HxE.shape != shape:
            raise LabError(f"mean_acts['heads'] must have shape {shape} (got {value_HxE.shape})")
        spec[models.site_name(model_cfg, "z")] = models.Replace(
            jnp.asarray(_mask(heads, model_cfg.n_heads, "head"))[:, None], jnp.asarray(value_HxE))
    return spec


def _score_chunk(params, x, y_B, spec, model_cfg: ModelConfig, task_cfg: TaskConfig, loss: str):
    """Per-example loss and correctness of the ablated model, [B] each."""
    logits_BxC = models.apply(params, x, model_cfg, task_cfg, spec)
    return per_example_loss(logits_BxC, y_B, loss), accuracy(logits_BxC, y_B)


_score_chunk_jit = jax.jit(_score_chunk, static_argnums=(4, 5, 6))


def _scores(params, model_cfg, task_cfg, x, y, spec, loss: str, chunk: int) -> dict[str, float]:
    """Mean loss and accuracy over (x, y) with the given ablation spec."""
    y_N = labels_of(x, y)
    params = jax.device_put(params)
    loss_N, correct_N = map_chunks(lambda x_c, y_c: _score_chunk_jit(params, x_c, y_c, spec, model_cfg, task_cfg,
                                                                     loss), x, y_N, chunk=chunk)
    return {"loss": float(np.mean(loss_N, dtype=np.float64)), "accuracy": float(np.mean(correct_N, dtype=np.float64))}


def ablate(model: Any, spec: Spec | None = None, *, x: Any = None, y: Any = None, neurons: Any = None,
           heads: Any = None, mode: str = "zero", mean_acts: Any = None, loss: str | None = None, chunk: int = 4096,
           layer: int | None = None) -> dict[str, float]:
    """Loss and accuracy on (x, y) with some neurons and heads set to 0 or to their mean.

    Neurons are the last MLP layer's post-activations (an MLP's last hidden layer; a transformer's
    last block's MLP at the last position); heads are the last block's head outputs z before W_O.
    Nothing ablated gives exactly the plain model's logits.

    Args:
        model: `run.model(i, step)`, or one model's params with `spec`.
        x: inputs [N, ...]; y: labels [N] (default: `default_dataset`: every pair, or 4096 parity rows).
        neurons: indices or a bool mask [F]; None: none.
        heads: indices or a bool mask [H] (transformers); None: none.
        mode: "zero", or "mean" (the mean over x unless mean_acts is given).
        mean_acts: `mean_activations`' dict (or an [F] array of neuron means) for mean mode.
        loss: the loss kind (default: the spec's `train.loss`; see `lab.train.losses.per_example_loss`).
        chunk: rows per forward pass.
        layer: the MLP hidden layer of the neurons (None: the last; mean_acts must be that layer's).

    Returns:
        {"loss": mean loss, "accuracy": mean accuracy} over (x, y).
    """
    params, spec = params_and_spec(model, spec)
    x, y = dataset_or_default(spec, x, y)
    if mode == "mean" and mean_acts is None:
        mean_acts = mean_activations(params, spec, x=x, chunk=chunk, layer=layer)
    hooks = ablation_spec(spec.model, neurons, heads, mode, mean_acts, layer)
    return _scores(params, spec.model, spec.task, x, y, hooks, loss or spec.train.loss, chunk)



def random_ablation_baseline(model: Any, spec: Spec | None = None, *, n_neurons: int, n_draws: int = 100,
                             key: jax.Array | None = None, x: Any = None, y: Any = None, mode: str = "zero",
                             mean_acts: Any = None, loss: str | None = None, chunk: int = 4096,
                             layer: int | None = None) -> dict[str, np.ndarray]:
    """Loss and accuracy after ablating n_neurons neurons drawn at random, for n_draws draws.

    Args:
        model, spec, x, y, mode, mean_acts, loss, chunk, layer: as in `ablate`.
        n_neurons: neurons per draw (distinct within a draw).
        n_draws: independent draws.
        key: a PRNG key (default jax.random.key(0)).

    Returns:
        {"loss": [n_draws], "accuracy": [n_draws], "neurons": [n_draws, n_neurons] int indices}; the
        draws run as vmapped batches (`scores_under_masks`).
    """
    params, spec = params_and_spec(model, spec)
    x, y = dataset_or_default(spec, x, y)
    n_f = n_neurons_of(spec.model)
    if not 0 <= n_neurons <= n_f:
        raise LabError(f"n_neurons must be in [0, {n_f}] (got {n_neurons})")
    key = jax.random.key(0) if key is None else key
    perms_DxF = random_permutations(key, n_draws, n_f)
    if mode == "mean" and mean_acts is None:
        mean_acts = mean_activations(params, spec, x=x, chunk=chunk, layer=layer)
    hooks = ablation_spec(spec.model, None, None, mode, mean_acts, layer)
    loss_D, acc_D = scores_under_masks(params, spec.model, spec.task, x, y, first_k_masks(perms_DxF, n_neurons), hooks,
                                       loss or spec.train.loss, chunk)
    return {"loss": loss_D, "accuracy": acc_D, "neurons": perms_DxF[:, :n_neurons]}


def ablation_over_steps(run: Any, model: int, *, neurons: Any = None, heads: Any = None, mode: str = "zero",
                        x: Any = None, y: Any = None, steps: list[int] | None = None,
                        chunk: int = 4096, layer: int | None = None) -> pd.DataFrame:
    """The effect of one ablation of one model of a run at every saved step.

    Args:
        run: a `lab.checkpoints.Run` (`lab.open(DIR)`).
        model: the model index.
        neurons, heads, mode: as in `ablate`; mean mode uses each step's own means over x.
        x, y: inputs and labels (default: `default_dataset`: all pairs, or 4096 parity rows).
        steps: saved steps to measure (default: all of `run.steps`).
        chunk: rows per forward pass.
        layer: the MLP hidden layer of the neurons (None: the last).

    Returns:
        One row per step: step, loss, accuracy (ablated), plain_loss, plain_accuracy, and
        loss_increase = loss - plain_loss. Losses use the run's loss kind.
    """
    x, y = dataset_or_default(run.spec_of(model), x, y)
    rows = []
    for step in run.steps if steps is None else steps:
        m = run.model(model, step)
        plain = ablate(m, x=x, y=y, chunk=chunk)
        out = ablate(m, x=x, y=y, neurons=neurons, heads=heads, mode=mode, chunk=chunk, layer=layer)
        rows.append({"step": step, **out, "plain_loss": plain["loss"], "plain_accuracy": plain["accuracy"],
                     "loss_increase": out["loss"] - plain["loss"]})
    return pd.DataFrame(rows)
