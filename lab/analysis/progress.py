"""Progress measures of Nanda et al. 2023 for modular addition: restricted loss, excluded loss,
the Gini coefficient of the embedding's Fourier norms, and the total sum of squared weights."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from lab import tasks, train
from lab.analysis.fourier import _embedding_weights, frequency_norms, key_frequencies
from lab.analysis.neurons_fourier import _logits_grid
from lab.analysis.target import params_and_spec, spec_of
from lab.config import ModelConfig, Spec, TaskConfig
from lab.sweeps import hparams_of


def sum_directions(p: int, freqs: list[int]) -> jax.Array:
    """Unit vectors cos(w_k (a + b)), sin(w_k (a + b)) over the (a, b) grid, [2 len(freqs), p * p]."""
    a_PP, b_PP = jnp.meshgrid(jnp.arange(p), jnp.arange(p), indexing="ij")
    rows = []
    for k in freqs:
        angle_PP = 2 * jnp.pi * k * (a_PP + b_PP).astype(jnp.float32) / p
        rows += [jnp.cos(angle_PP).ravel(), jnp.sin(angle_PP).ravel()]
    dirs_RxN = jnp.stack(rows) if rows else jnp.zeros((0, p * p))
    return dirs_RxN / jnp.maximum(jnp.linalg.norm(dirs_RxN, axis=1, keepdims=True), 1e-12)


def split_logits(logits_NxC: jax.Array, p: int, freqs: list[int]) -> tuple[jax.Array, jax.Array]:
    """(restricted, excluded) logits over the grid: only / all but the key-frequency components.

    The key components of each class's logits are their projections on cos and sin of
    w_k (a + b); the restricted logits keep those plus each class's mean over the grid.
    """
    dirs_RxN = sum_directions(p, freqs)
    key_NxC = dirs_RxN.T @ (dirs_RxN @ logits_NxC)
    mean_1xC = jnp.mean(logits_NxC, axis=0, keepdims=True)
    return mean_1xC + key_NxC, logits_NxC - key_NxC


def _loss(logits_NxC: jax.Array, y_N: jax.Array, w_N: jax.Array, kind: str = "cross_entropy") -> jax.Array:
    """Mean loss (the run's own loss kind) over the examples with weight > 0."""
    return train.weighted_mean(train.per_example_loss(logits_NxC, y_N, kind), w_N)


def gini(x: Any) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, near 1 when one holds all."""
    x = np.sort(np.abs(np.asarray(x, np.float64)))
    n = x.size
    if n == 0 or x.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def grid_labels(task: TaskConfig) -> np.ndarray:
    """The label of every (a, b) pair of the grid (row-major), for x+y style tasks over all pairs."""
    full = dataclasses.replace(task, symmetric=False)
    ab, y = tasks.all_pairs(full)
    out = np.full(task.p * task.p, -1, np.int64)
    out[ab[:, 0] * task.p + ab[:, 1]] = y
    return out


def train_mask(model: Any) -> np.ndarray:
    """1.0 on the grid pairs a model trained on, [p * p], rebuilt from its spec's data seed and train fraction.

    model: `run.model(i)` or its own spec (`run.spec_of(i)`: its swept values set)."""
    spec = spec_of(model)
    task = spec.task
    hp = jax.tree.map(lambda v: v[0], hparams_of(spec, [{}]))
    data = train.make_data(spec, hp, tasks.n_train_max(task, float(hp.train_frac)))
    x = np.asarray(data.x_train)[np.asarray(data.w_train) > 0]
    mask = np.zeros(task.p * task.p, np.float32)
    mask[x[:, 0] * task.p + x[:, 1]] = 1.0
    if task.symmetric:
        mask[x[:, 1] * task.p + x[:, 0]] = 1.0
    return mask


def _measures(params, model: ModelConfig, task: TaskConfig, train_mask_N: np.ndarray, freqs: list[int] | None = None,
             coverage: float = 0.9, loss: str = "cross_entropy") -> dict[str, Any]:
    """The progress measures of one model (numpy outputs).

    freqs: the key frequencies (default: found from this model's embedding with `coverage`);
    loss: the run's loss kind (`spec.train.loss`), so the losses match the logged ones.
    restricted_loss is over all pairs; excluded_loss and train_loss over the training pairs.
    """
    p = task.p
    emb = next(iter(_embedding_weights(params, model, task).values()))
    norms = np.asarray(frequency_norms(emb, p))
    if freqs is None:
        freqs, _ = key_frequencies(norms, coverage)
    y_N = jnp.asarray(grid_labels(task))
    valid_N = (y_N >= 0).astype(jnp.float32)
    y_N = jnp.maximum(y_N, 0)
    logits_NxC = _logits_grid(params, model, task).reshape(p * p, -1)
    restricted, excluded = split_logits(logits_NxC, p, list(freqs))
    w_train = jnp.asarray(train_mask_N) * valid_N
    return {
        "train_loss": float(_loss(logits_NxC, y_N, w_train, loss)),
        "test_loss": float(_loss(logits_NxC, y_N, valid_N * (1 - w_train), loss)),
        "restricted_loss": float(_loss(restricted, y_N, valid_N, loss)),
        "excluded_loss": float(_loss(excluded, y_N, w_train, loss)),
        "gini": gini(norms[1:]),
        "sum_sq_weights": float(sum(np.sum(np.square(np.asarray(w, np.float64))) for w in jax.tree.leaves(params))),
        "key_frequencies": list(freqs),
    }


def measures(model: Any, spec: Spec | None = None, *, freqs: list[int] | None = None, coverage: float = 0.9,
             train_mask_N: np.ndarray | None = None) -> dict[str, Any]:
    """Nanda et al.'s progress measures of one model: train, test, restricted and excluded loss, Gini, weights.

    Args:
        model: `run.model(i, step)`, or one model's params with its own `spec` (`run.spec_of(i)`).
        freqs: the key frequencies (default: found from this model's embedding with `coverage`).
        train_mask_N: the training pairs [p * p] (default: `train_mask(spec)`).

    Returns:
        {"train_loss", "test_loss", "restricted_loss" (all pairs), "excluded_loss" (training pairs), "gini",
        "sum_sq_weights", "key_frequencies"}, with the spec's loss kind as logged.
    """
    params, spec = params_and_spec(model, spec)
    mask = train_mask(spec) if train_mask_N is None else train_mask_N
    return _measures(params, spec.model, spec.task, mask, freqs, coverage, spec.train.loss)


def progress_over_steps(run, model: int, *, freqs: list[int] | None = None) -> pd.DataFrame:
    """The progress measures of one model of a run at every saved step (one row per step).

    The key frequencies default to those of the model's final embedding, so every step is
    measured against the same frequencies (as in the paper).
    """
    mask = train_mask(run.spec_of(model))
    if freqs is None:
        freqs = measures(run.model(model), train_mask_N=mask)["key_frequencies"]
    return pd.DataFrame([{"step": step, **measures(run.model(model, step), freqs=freqs, train_mask_N=mask)}
                         for step in run.steps])
