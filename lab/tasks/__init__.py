"""Datasets: modular and integer arithmetic, sparse parity, multitask sparse parity and skill
composition, as `Data` tuples."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lab.config import TaskConfig
from lab.tasks.batch_orders import check_epoch_orders, epoch_orders
from lab.tasks.composition import make_composition, skill_subsets, skill_tuples
from lab.tasks.data import Data
from lab.tasks.modular import all_pairs, eos_token, fixed_split, make_modular, modular_size, token_sequences
from lab.tasks.multitask_parity import fresh_multitask_parity, make_multitask_parity, task_subsets, zipf_probs
from lab.tasks.parity import fresh_parity, make_parity

__all__ = [
    "Data",
    "all_pairs",
    "check_epoch_orders",
    "eos_token",
    "epoch_orders",
    "fixed_split",
    "fresh_batch",
    "input_dtype",
    "input_shape",
    "make_composition",
    "make_data",
    "make_modular",
    "make_multitask_parity",
    "make_parity",
    "modular_size",
    "n_train_max",
    "skill_subsets",
    "skill_tuples",
    "task_subsets",
    "token_sequences",
    "zipf_probs",
]


def make_data(
    cfg: TaskConfig, key: jax.Array, train_frac: float | jax.Array, n_train_max: int, as_tokens: bool
) -> Data:
    """Dispatch on cfg.name; parity tasks ignore train_frac and n_train_max.

    Jittable and vmappable over `key` and `train_frac` (cfg, n_train_max and as_tokens static).

    Args:
        cfg: the task config.
        key: a PRNG key (the data seed's key).
        train_frac: modular only: fraction of examples used for training (may be traced).
        n_train_max: modular only: static row count of x_train (see `n_train_max`).
        as_tokens: modular only: [a, b, "="] token inputs instead of [a, b] operands.

    Returns:
        The model's Data.
    """
    if cfg.is_table:
        return make_modular(cfg, key, train_frac, n_train_max, as_tokens)
    if cfg.name == "parity":
        return make_parity(cfg, key)
    if cfg.name == "multitask_parity":
        return make_multitask_parity(cfg, key)
    if cfg.name == "skill_composition":
        return make_composition(cfg, key, train_frac)
    raise ValueError(f"unknown task.name {cfg.name!r}")


def fresh_batch(cfg: TaskConfig, data_key: jax.Array, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """n fresh training examples (inputs, labels) of a parity task, drawn with key (task.fresh_samples).

    data_key is the model's data key: it fixes multitask parity's subtasks, so fresh examples ask the
    same questions as the model's test set.
    """
    if cfg.name == "parity":
        return fresh_parity(cfg, key, n)
    if cfg.name == "multitask_parity":
        return fresh_multitask_parity(cfg, data_key, key, n)
    raise ValueError(f"task.fresh_samples is not implemented for task.name {cfg.name!r}")


def n_train_max(cfg: TaskConfig, max_train_frac: float) -> int:
    """Static row count of x_train for a group whose largest train fraction is max_train_frac.

    Modular: round(max_train_frac * N), clipped to [1, N], or the count task.split_from's train_index fixes;
    parity tasks: cfg.n_train.
    """
    n_fixed = fixed_split(cfg)[1] if cfg.is_table and cfg.split_from else None
    if n_fixed is not None:
        return n_fixed
    if cfg.is_table:
        n_all = modular_size(cfg)
        return min(max(round(max_train_frac * n_all), 1), n_all)
    return cfg.n_train


def input_shape(cfg: TaskConfig, as_tokens: bool) -> tuple[int, ...]:
    """Per-example input shape: (task.n_ctx,) tokens or (2,) operands, (n_bits,) or (n_tasks + n_bits,)."""
    if cfg.is_table:
        return (cfg.n_ctx,) if as_tokens else (2,)
    if cfg.name == "parity":
        return (cfg.n_bits,)
    return (cfg.n_tasks + cfg.n_bits,)


def input_dtype(cfg: TaskConfig) -> jnp.dtype:
    """Input dtype: int32 for modular (operands or tokens), float32 for the parity tasks."""
    return jnp.dtype(jnp.int32) if cfg.is_table else jnp.dtype(jnp.float32)
