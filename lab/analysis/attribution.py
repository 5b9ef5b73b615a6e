"""Neuron attribution (Nikankin et al. 2024, "Arithmetic Without Algorithms"): rank the neurons of the
ablatable layer (an MLP's last hidden layer, a transformer's last block's MLP at the last position) by
their effect on the correct answer, and find the smallest set of them that keeps most of the accuracy.

    m = run.model(0)
    effects_F = patching_effects(m)                                # loss increase per neuron, over every pair
    found = smallest_sufficient_set(params, spec, x=x, y=y)        # {"neurons", "k", "curve", ...}
    table = ablation_curve(m, ranking=found["ranking"], sizes=[1, 4, 16])

Two measures: `direct_logit_attribution` reads each neuron's direct path to the logits (activation times
its readout row, no forward pass through the ablated model); `patching_effects` replaces one neuron at a
time by its mean (or 0) and measures the loss increase. Both use the same neurons as
`lab.analysis.ablation`, and every ablated forward pass here is one jitted function vmapped over a
stack of neuron masks (`ablation_spec`'s masks are arrays), so F neurons cost F / batch calls, not F.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from lab import models
from lab.analysis.ablation import ablation_spec, mean_activations
from lab.analysis.activations import dataset_or_default, map_chunks, mlp_layer_name
from lab.analysis.masks import first_k_masks, labels_of, n_neurons_of, random_permutations, scores_under_masks
from lab.analysis.target import params_and_spec
from lab.config import ModelConfig, Spec, TaskConfig
from lab.errors import LabError

LN_EPSILON = 1e-6  # flax.linen.LayerNorm's default epsilon, which the transformer's ln_final uses


# ----------------------------------------------------------------------------------------------------
# Direct logit attribution


def _readout_FxC(params: dict[str, Any], model_cfg: ModelConfig, task_cfg: TaskConfig) -> np.ndarray:
    """The linear map from the ablatable neurons to the logits, centred over classes, [F, C] float32."""
    if model_cfg.kind == "transformer":
        w_out_FxD = np.asarray(params[f"block_{model_cfg.n_layers - 1}_mlp"]["W_out"], np.float64)
        if model_cfg.layer_norm:  # ln_final with its per-example scale frozen: centre over D, times gamma
            w_out_FxD = w_out_FxD - w_out_FxD.mean(axis=1, keepdims=True)
            w_out_FxD = w_out_FxD * np.asarray(params["ln_final"]["scale"], np.float64)[None]
        w_FxC = w_out_FxD @ np.asarray(params["W_U"], np.float64)
    elif model_cfg.tie_embed:
        fixed = models.fixed_embedding(model_cfg, task_cfg)
        table = params["W_E"] if fixed is None else fixed
        w_FxC = np.asarray(params["W_out"], np.float64) @ np.asarray(table, np.float64).T
    else:
        w_FxC = np.asarray(params["W_out"], np.float64)
    return (w_FxC - w_FxC.mean(axis=1, keepdims=True)).astype(np.float32)


def _dla_chunk(params, x, y_B, w_FxC, model_cfg: ModelConfig, task_cfg: TaskConfig) -> jax.Array:
    """Each neuron's direct contribution to the centred correct-class logit, per example, [B, F]."""
    _, acts = models.run_with_cache(params, x, model_cfg, task_cfg)
    post = acts[mlp_layer_name(model_cfg)]
    acts_BxF = post[:, -1] if model_cfg.kind == "transformer" else post
    dla_BxF = acts_BxF * jnp.take(w_FxC, y_B, axis=1).T
    if model_cfg.kind == "transformer" and model_cfg.layer_norm:  # ln_final's 1 / sigma of each example
        resid_BxD = acts["resid_post", -1][:, -1]
        dla_BxF = dla_BxF * jax.lax.rsqrt(jnp.var(resid_BxD, axis=-1) + LN_EPSILON)[:, None]
    return dla_BxF


_dla_chunk_jit = jax.jit(_dla_chunk, static_argnums=(4, 5))


def direct_logit_attribution(model: Any, spec: Spec | None = None, *, x: Any = None, y: Any = None,
                             chunk: int = 4096) -> np.ndarray:
    """Each neuron's mean direct contribution to the correct-class logit minus the mean logit.

    For neuron n and example i: acts[i, n] * (W[n, y_i] - mean_c W[n, c]), averaged over i, where W
    [F, C] is the neuron's direct path to the logits: an MLP's readout `W_out` (`W_out @ W_E^T` when the
    embedding is tied), a transformer's last-block `W_out @ W_U`. Biases belong to no neuron and are
    left out. A transformer with `layer_norm` has a final LayerNorm; it is handled with
    each example's scale frozen (the usual linearisation): the neuron's output is centred over d_model,
    multiplied by ln_final's scale and divided by the example's sigma = sqrt(var(resid) + 1e-6), so
    that the neurons' shares plus the other paths' (rest of the residual stream, b_out, ln_final's
    bias) add up to the centred logit of every example.

    Args:
        model: `run.model(i, step)`, or one model's params with their `spec`.
        x, y: inputs [N, ...] as the model reads them and labels [N] (default: every labelled pair of a table
            task, or 4096 parity rows).
        chunk: rows per forward pass (the per-example [rows, F] table lives on the host).

    Returns:
        dla_F float64 numpy [F]: positive when a neuron pushes towards the right answer on average.
    """
    params, spec, x, y = _inputs(model, spec, x, y)
    model_cfg, task_cfg = spec.model, spec.task
    y_N = labels_of(x, y)
    params = jax.device_put(params)
    w_FxC = jnp.asarray(_readout_FxC(params, model_cfg, task_cfg))
    dla_NxF = map_chunks(lambda x_c, y_c: _dla_chunk_jit(params, x_c, y_c, w_FxC, model_cfg, task_cfg),
                         x, y_N, chunk=chunk)
    return dla_NxF.mean(axis=0, dtype=np.float64)


def _base_hooks(params, spec: Spec, x: Any, mode: str, mean_acts: Any, chunk: int,
               layer: int | None) -> tuple[dict, Any]:
    """`ablation_spec` with nothing ablated, and the mean activations it used (means over x unless given)."""
    if mode == "mean" and mean_acts is None:
        mean_acts = mean_activations(params, spec, x=x, chunk=chunk, layer=layer)
    return ablation_spec(spec.model, None, None, mode, mean_acts, layer), mean_acts


def _inputs(model: Any, spec: Spec | None, x: Any, y: Any):
    """(params, spec, x, y) of a model handle or params with their spec; x, y default to `default_dataset`."""
    params, spec = params_and_spec(model, spec)
    return (params, spec, *dataset_or_default(spec, x, y))


def _check_ranking(ranking: Any, n_f: int) -> np.ndarray:
    """ranking as int64 [F], checked to be a permutation of the neurons."""
    order_F = np.asarray(ranking).astype(np.int64).ravel()
    if order_F.shape != (n_f,) or not np.array_equal(np.sort(order_F), np.arange(n_f)):
        raise LabError(f"ranking must list every one of the {n_f} neurons once, most important first "
                       f"(e.g. np.argsort(-scores)); got {np.asarray(ranking).shape} entries")
    return order_F


def _keep_top_masks(order_F: np.ndarray, ks: Any) -> np.ndarray:
    """Ablation masks [len(ks), F] that keep only the top-k neurons of the ranking, one per k."""
    rank_F = np.empty_like(order_F)
    rank_F[order_F] = np.arange(order_F.size)
    return rank_F[None, :] >= np.asarray(ks, np.int64)[:, None]


# ----------------------------------------------------------------------------------------------------
# The measures: each takes `run.model(i, step)` or params with their spec, options by keyword


def patching_effects(model: Any, spec: Spec | None = None, *, x: Any = None, y: Any = None, mode: str = "mean",
                     chunk: int = 4096, batch: int | None = None, mean_acts: Any = None, loss: str | None = None,
                     layer: int | None = None) -> np.ndarray:
    """Activation patching one neuron at a time: the mean loss increase when it alone is replaced.

    With the default cross-entropy loss this is the drop in the mean correct-class log-probability;
    bigger is more important, and a neuron the readout ignores scores 0. The F single-neuron ablations
    (and the plain model, for the baseline) run as one jitted forward pass vmapped over masks, `batch`
    masks per call, so F = 512 neurons over a few thousand inputs take seconds on a CPU.

    Args:
        model: `run.model(i, step)`, or one model's params with their `spec`.
        x, y: inputs [N, ...] as the model reads them and labels [N] (default: every labelled pair of a table
            task, or 4096 parity rows).
        mode: "mean" (the neuron's mean over x, or mean_acts) or "zero".
        chunk: rows per forward pass.
        batch: masks per vmapped call; None picks one that keeps [batch, rows, F + C] under ~128 MiB.
        mean_acts: `mean_activations`' dict for mean mode (an MLP may take an [F] array of neuron means).
        loss: the loss kind (default: the spec's train.loss; see `lab.train.losses.per_example_loss`).
        layer: the MLP hidden layer (None: the last, the only one for transformers).

    Returns:
        effects_F float64 numpy [F]: ablated mean loss minus the plain model's mean loss.
    """
    params, spec, x, y = _inputs(model, spec, x, y)
    model_cfg, task_cfg, loss = spec.model, spec.task, loss or spec.train.loss
    y_N = labels_of(x, y)
    n_f = n_neurons_of(model_cfg)
    hooks, _ = _base_hooks(params, spec, x, mode, mean_acts, chunk, layer)
    ablated_MxF = np.concatenate([np.zeros((1, n_f), bool), np.eye(n_f, dtype=bool)])  # row 0: the plain model
    loss_M, _ = scores_under_masks(params, model_cfg, task_cfg, x, y_N, ablated_MxF, hooks, loss, chunk, batch)
    return loss_M[1:] - loss_M[0]


def smallest_sufficient_set(model: Any, spec: Spec | None = None, *, x: Any = None, y: Any = None,
                            ranking: Any = None, keep: float = 0.9, mode: str = "mean", chunk: int = 4096,
                            batch: int | None = None, mean_acts: Any = None, loss: str | None = None,
                            layer: int | None = None) -> dict[str, Any]:
    """The fewest top-ranked neurons that, with every other neuron ablated, keep `keep` of the accuracy.

    Keeping the top k means ablating (mean or zero) the other F - k. Accuracy is taken to grow with k
    (roughly true), so k is searched, not swept: first k = 0, 1, 2, 4, ..., F in one vmapped pass, then
    rounds of up to `batch` (at least 8) evenly spaced k between the largest failing and the smallest
    passing k until they are adjacent. The k returned passes (accuracy_k >= keep * plain_accuracy) and
    k - 1 was evaluated and failed (unless k = 0); where accuracy is not monotone a smaller passing k
    may exist outside the searched points.

    Args:
        model, spec, x, y, mode, chunk, batch, mean_acts, loss, layer: as in `patching_effects`.
        ranking: every neuron index once, most important first (e.g. np.argsort(-scores)); None ranks by
            `patching_effects` (same mode, descending).
        keep: the fraction of the plain model's accuracy to keep, in (0, 1].

    Returns:
        {"neurons": int64 [k] the kept set (top-k of the ranking), "k": k, "fraction": k / F,
        "accuracy": accuracy with only them, "loss": its loss, "plain_accuracy": the plain model's,
        "plain_loss", "ranking": int64 [F] the ranking used, "curve": DataFrame (k, accuracy, loss)
        of every evaluated k, ascending (k = F is the plain model)}.
    """
    if not 0 < keep <= 1:
        raise LabError(f"keep must be in (0, 1] (got {keep})")
    params, spec, x, y = _inputs(model, spec, x, y)
    model_cfg, task_cfg, loss = spec.model, spec.task, loss or spec.train.loss
    y_N = labels_of(x, y)
    n_f = n_neurons_of(model_cfg)
    hooks, mean_acts = _base_hooks(params, spec, x, mode, mean_acts, chunk, layer)
    if ranking is None:
        effects_F = patching_effects(params, spec, x=x, y=y_N, mode=mode, chunk=chunk, batch=batch,
                                     mean_acts=mean_acts, loss=loss, layer=layer)
        ranking = np.argsort(-effects_F, kind="stable")
    order_F = _check_ranking(ranking, n_f)
    evaluated: dict[int, tuple[float, float]] = {}

    def evaluate(ks: list[int]) -> None:
        ks = [k for k in dict.fromkeys(ks) if k not in evaluated]
        if ks:
            loss_M, acc_M = scores_under_masks(params, model_cfg, task_cfg, x, y_N, _keep_top_masks(order_F, ks),
                                           hooks, loss, chunk, batch)
            evaluated.update({k: (float(a), float(l)) for k, a, l in zip(ks, acc_M, loss_M)})

    geometric = [0] + [2**i for i in range(int(math.log2(n_f)) + 1) if 2**i < n_f] + [n_f]
    evaluate(geometric)
    plain_accuracy, plain_loss = evaluated[n_f]  # nothing ablated: the plain model
    target = keep * plain_accuracy
    passing = [k for k in geometric if evaluated[k][0] >= target]
    hi = passing[0]  # k = F always passes
    lo = max((k for k in geometric if k < hi), default=-1)  # fails; -1 when k = 0 passes
    per_round = max(8, batch or 0)
    while hi - lo > 1:
        ks = sorted({int(k) for k in np.linspace(lo, hi, min(per_round, hi - lo - 1) + 2)[1:-1].round()} - {lo, hi})
        evaluate(ks)
        hi = min([hi] + [k for k in ks if evaluated[k][0] >= target])
        lo = max([lo] + [k for k in ks if k < hi and evaluated[k][0] < target])
    curve = pd.DataFrame([{"k": k, "accuracy": a, "loss": l} for k, (a, l) in sorted(evaluated.items())])
    accuracy_k, loss_k = evaluated[hi]
    return {"neurons": order_F[:hi].copy(), "k": hi, "fraction": hi / n_f, "accuracy": accuracy_k, "loss": loss_k,
            "plain_accuracy": plain_accuracy, "plain_loss": plain_loss, "ranking": order_F, "curve": curve}


def ablation_curve(model: Any, spec: Spec | None = None, *, ranking: Any, sizes: Any, x: Any = None, y: Any = None,
                   n_random: int = 20, mode: str = "mean", key: jax.Array | None = None, chunk: int = 4096,
                   batch: int | None = None, mean_acts: Any = None, loss: str | None = None,
                   layer: int | None = None) -> pd.DataFrame:
    """Accuracy and loss after ablating the top-k ranked neurons, against k random neurons, for each k.

    The top-k ablations of every size and the random draws run as vmapped passes; the random sets are
    `random_ablation_baseline`'s for the same key, nested across sizes (the k neurons of a draw are the
    first k of one random permutation).

    Args:
        model, spec, x, y, mode, chunk, batch, mean_acts, loss, layer: as in `patching_effects`.
        ranking: every neuron index once, most important first (e.g. `smallest_sufficient_set`'s).
        sizes: the numbers k of neurons to ablate, each in [0, F].
        n_random: random draws per size (0: no random columns are filled, they are nan).
        key: the PRNG key of the random draws (default jax.random.key(0)).

    Returns:
        One row per size: k, accuracy, loss (top-k ablated), and over the random draws
        random_accuracy_mean / _p05 / _p95 and random_loss_mean / _p05 / _p95 (5th, 95th percentiles).
    """
    params, spec, x, y = _inputs(model, spec, x, y)
    model_cfg, task_cfg, loss = spec.model, spec.task, loss or spec.train.loss
    y_N = labels_of(x, y)
    n_f = n_neurons_of(model_cfg)
    order_F = _check_ranking(ranking, n_f)
    sizes_S = np.asarray(sizes, np.int64).ravel()
    if sizes_S.size == 0 or sizes_S.min() < 0 or sizes_S.max() > n_f:
        raise LabError(f"sizes must be numbers of neurons in [0, {n_f}] (got {np.asarray(sizes).tolist()})")
    hooks, mean_acts = _base_hooks(params, spec, x, mode, mean_acts, chunk, layer)
    ablated_SxF = ~_keep_top_masks(order_F, sizes_S)  # ablating the top k = keeping all but them
    loss_S, acc_S = scores_under_masks(params, model_cfg, task_cfg, x, y_N, ablated_SxF, hooks, loss, chunk, batch)
    key = jax.random.key(0) if key is None else key
    perms_DxF = random_permutations(key, max(n_random, 0), n_f)  # random_ablation_baseline's draws
    random_SDxF = np.concatenate([first_k_masks(perms_DxF, k) for k in sizes_S.tolist()])
    r_loss, r_acc = (scores_under_masks(params, model_cfg, task_cfg, x, y_N, random_SDxF, hooks, loss, chunk, batch)
                     if len(perms_DxF) else (np.full(sizes_S.size, np.nan), np.full(sizes_S.size, np.nan)))
    r_loss_SxD, r_acc_SxD = r_loss.reshape(sizes_S.size, -1), r_acc.reshape(sizes_S.size, -1)
    rows = []
    for i, (k, acc, lss) in enumerate(zip(sizes_S.tolist(), acc_S, loss_S)):
        row = {"k": k, "accuracy": float(acc), "loss": float(lss)}
        for metric, values_SxD in (("accuracy", r_acc_SxD), ("loss", r_loss_SxD)):
            row[f"random_{metric}_mean"] = float(np.mean(values_SxD[i]))
            row[f"random_{metric}_p05"], row[f"random_{metric}_p95"] = (float(v) for v in
                                                                        np.percentile(values_SxD[i], [5, 95]))
        rows.append(row)
    return pd.DataFrame(rows)


def smallest_sets_per_layer(model: Any, spec: Spec | None = None, *, x: Any = None, y: Any = None, keep: float = 0.9,
                            mode: str = "mean", chunk: int = 4096, batch: int | None = None,
                            loss: str | None = None) -> pd.DataFrame:
    """`smallest_sufficient_set` (ranked by patching effect) in every hidden layer of an MLP, one at a time
    (the other layers untouched); a transformer has one ablatable layer, its last block's MLP.

    Returns:
        One row per layer: layer, k, fraction (of the layer's neurons), accuracy, plain_accuracy.
    """
    params, spec, x, y = _inputs(model, spec, x, y)
    model_cfg = spec.model
    n_layers = model_cfg.depth if model_cfg.kind == "mlp" else 1
    rows = []
    for layer in range(n_layers):
        found = smallest_sufficient_set(params, spec, x=x, y=y, keep=keep, mode=mode, chunk=chunk, batch=batch,
                                        loss=loss, layer=layer if model_cfg.kind == "mlp" else None)
        rows.append({"layer": layer if model_cfg.kind == "mlp" else model_cfg.n_layers - 1, "k": found["k"],
                     "fraction": found["fraction"], "accuracy": found["accuracy"],
                     "plain_accuracy": found["plain_accuracy"]})
    return pd.DataFrame(rows)


__all__ = ["ablation_curve", "direct_logit_attribution", "patching_effects", "smallest_sets_per_layer",
           "smallest_sufficient_set"]
