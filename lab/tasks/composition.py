"""Skill composition (Arora and Goyal 2023, on toy data): each example needs several skills at once.

There are n_tasks skills, each the parity of its own k of the n_bits bits (`task_subsets`). An
example picks a tuple of `compose_k` distinct skills, shows them as a multi-hot prefix, and its
label is the parity of all their bits together (the XOR of the skills' answers). A fraction
train_frac of all C(n_tasks, compose_k) tuples is used for training; the test set holds only the
other tuples, combinations of skills never seen together.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from lab.config import TaskConfig
from lab.tasks.data import Data
from lab.tasks.multitask_parity import task_subsets
from lab.tasks.parity import to_pm1


def skill_tuples(cfg: TaskConfig) -> np.ndarray:
    """Every tuple of compose_k distinct skills, int32 [C, compose_k], in lexicographic order."""
    return np.asarray(list(itertools.combinations(range(cfg.n_tasks), cfg.compose_k)), np.int32)


def skill_subsets(cfg: TaskConfig, key: jax.Array) -> jax.Array:
    """The k bits each skill reads, int32 [n_tasks, k]: disjoint when n_tasks * k <= n_bits (so no
    tuple of skills cancels to a constant label), else independent random subsets (`task_subsets`)."""
    if cfg.n_tasks * cfg.k > cfg.n_bits:
        return task_subsets(cfg, key)
    order_B = jax.random.permutation(jax.random.fold_in(key, 0), cfg.n_bits)
    return jnp.sort(order_B[: cfg.n_tasks * cfg.k].reshape(cfg.n_tasks, cfg.k), axis=1).astype(jnp.int32)


def _examples(cfg: TaskConfig, key: jax.Array, tuple_N: jax.Array, tuples_CxJ, subset_TxK: jax.Array):
    bits01_NxB = jax.random.bernoulli(key, 0.5, (tuple_N.shape[0], cfg.n_bits)).astype(jnp.int32)
    skills_NxJ = jnp.asarray(tuples_CxJ)[tuple_N]
    read_NxJK = jnp.take_along_axis(bits01_NxB, subset_TxK[skills_NxJ].reshape(tuple_N.shape[0], -1), axis=1)
    y_N = (jnp.sum(read_NxJK, axis=1) % 2).astype(jnp.int32)
    multihot_NxT = jnp.sum(jax.nn.one_hot(skills_NxJ, cfg.n_tasks, dtype=jnp.float32), axis=1)
    return jnp.concatenate([multihot_NxT, to_pm1(bits01_NxB)], axis=1), y_N


def make_composition(cfg: TaskConfig, key: jax.Array, train_frac: float | jax.Array) -> Data:
    """A skill-composition dataset: training tuples and held-out test tuples (see the module docstring).

    Args:
        cfg: the task config (name "skill_composition"); static.
        key: a PRNG key (the skills' bit subsets are `skill_subsets(cfg, key)`).
        train_frac: fraction of the skill tuples used for training (may be traced); at least one
            tuple is trained on and at least one held out.

    Returns:
        Data with x_* [N, n_tasks + n_bits] (multi-hot skills, then +-1 bits) and t_* the tuple
        index of each example in `skill_tuples(cfg)`.
    """
    tuples_CxJ = skill_tuples(cfg)
    n_tuples = tuples_CxJ.shape[0]
    subset_TxK = skill_subsets(cfg, key)
    k_perm, k_tr, k_te, k_bits_tr, k_bits_te = jax.random.split(jax.random.fold_in(key, 2), 5)
    order_C = jax.random.permutation(k_perm, n_tuples).astype(jnp.int32)
    n_seen = jnp.clip(jnp.round(train_frac * n_tuples), 1, n_tuples - 1).astype(jnp.int32)
    tuple_tr = order_C[jax.random.randint(k_tr, (cfg.n_train,), 0, n_seen)]
    tuple_te = order_C[jax.random.randint(k_te, (cfg.n_test,), n_seen, n_tuples)]
    x_tr, y_tr = _examples(cfg, k_bits_tr, tuple_tr, tuples_CxJ, subset_TxK)
    x_te, y_te = _examples(cfg, k_bits_te, tuple_te, tuples_CxJ, subset_TxK)
    return Data(x_train=x_tr, y_train=y_tr, w_train=jnp.ones((cfg.n_train,), jnp.float32), t_train=tuple_tr,
                x_test=x_te, y_test=y_te, w_test=jnp.ones((cfg.n_test,), jnp.float32), t_test=tuple_te)
