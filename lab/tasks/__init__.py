"""Datasets: modular and integer arithmetic, sparse parity, multitask sparse parity and skill
composition, as `Data` tuples."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lab.config import TaskConfig
from lab.tasks.composition import make_composition, skill_subsets, skill_tuples
from lab.tasks.data import Data
from lab.tasks.modular import all_pairs, make_modular, modular_size
from lab.tasks.multitask_parity import make_multitask_parity, task_subsets, zipf_probs
from lab.tasks.parity import make_parity

__all__ = [
    "Data",
    "all_pairs",
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


def n_train_max(cfg: TaskConfig, max_train_frac: float) -> int:
    """Static row count of x_train for a group whose largest train fraction is max_train_frac.

    Modular: round(max_train_frac * N), clipped to [1, N]; parity tasks: cfg.n_train.
    """
    if cfg.is_table:
        n_all = modular_size(cfg)
        return min(max(round(max_train_frac * n_all), 1), n_all)
    return cfg.n_train


def input_shape(cfg: TaskConfig, as_tokens: bool) -> tuple[int, ...]:
    """Per-example input shape: (3,) tokens or (2,) operands, (n_bits,) or (n_tasks + n_bits,)."""
    if cfg.is_table:
        return (3,) if as_tokens else (2,)
    if cfg.name == "parity":
        return (cfg.n_bits,)
    return (cfg.n_tasks + cfg.n_bits,)


def input_dtype(cfg: TaskConfig) -> jnp.dtype:
    """Input dtype: int32 for modular (operands or tokens), float32 for the parity tasks."""
    return jnp.dtype(jnp.int32) if cfg.is_table else jnp.dtype(jnp.float32)
