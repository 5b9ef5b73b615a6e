"""Skill composition (Arora and Goyal 2023, on toy data): each example needs several skills at once.

There are n_tasks skills, each the parity of its own k of the n_bits bits (`skill_subsets`). An
example names a tuple of distinct skills in a multi-hot prefix, then shows the bits; its label is
the number of the named skills whose parity is 1 (compose_rule "count", classes 0..test_sizes) or
the parity of all their bits together ("xor", 2 classes).

Training: tuples of compose_k skills drawn from a fraction train_frac of all C(n_tasks, compose_k)
such tuples (the "text pieces" of the theory), and, with compose_singles, each skill alone. Test:
equal shares of tuples of 1, 2, ..., test_sizes skills, none of them a training tuple: the held-out
compose_k-tuples, and random tuples of the other sizes (size 1: single skills on fresh inputs).
`t_test` holds the tuple size minus 1, so the metrics have one column per size (test_acc_k1, ...).
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


def _skill_answers(cfg: TaskConfig, key: jax.Array, mask_NxT: jax.Array, subset_TxK: jax.Array):
    """Inputs (multi-hot skills, then +-1 bits) and labels of examples naming the skills in mask_NxT."""
    bits01_NxB = jax.random.bernoulli(key, 0.5, (mask_NxT.shape[0], cfg.n_bits)).astype(jnp.int32)
    answer_NxT = jnp.sum(bits01_NxB[:, subset_TxK], axis=2) % 2  # every skill's parity
    named_N = jnp.sum(mask_NxT * answer_NxT, axis=1)
    y_N = (named_N if cfg.compose_rule == "count" else named_N % 2).astype(jnp.int32)
    return jnp.concatenate([mask_NxT.astype(jnp.float32), to_pm1(bits01_NxB)], axis=1), y_N


def _multi_hot(tuples_CxJ, index_N: jax.Array, n_tasks: int) -> jax.Array:
    """Multi-hot [N, n_tasks] of the tuples at index_N."""
    return jnp.sum(jax.nn.one_hot(jnp.asarray(tuples_CxJ)[index_N], n_tasks, dtype=jnp.int32), axis=1)


def _random_tuples(key: jax.Array, size_N: jax.Array, n_tasks: int) -> jax.Array:
    """Multi-hot [N, n_tasks] of uniformly random tuples of size_N distinct skills."""
    rank_NxT = jnp.argsort(jnp.argsort(jax.random.uniform(key, (size_N.shape[0], n_tasks)), axis=1), axis=1)
    return (rank_NxT < size_N[:, None]).astype(jnp.int32)


def sizes_of_test_rows(cfg: TaskConfig) -> np.ndarray:
    """The tuple size of each test row, int32 [n_test]: equal shares of 1..test_sizes."""
    return (np.arange(cfg.n_test) * cfg.test_sizes // cfg.n_test + 1).astype(np.int32)


def make_composition(cfg: TaskConfig, key: jax.Array, train_frac: float | jax.Array) -> Data:
    """A skill-composition dataset: training tuples and held-out test tuples (see the module docstring).

    Args:
        cfg: the task config (name "skill_composition"); static.
        key: a PRNG key (the skills' bit subsets are `skill_subsets(cfg, key)`).
        train_frac: fraction of the compose_k-tuples used for training (may be traced); at least one
            tuple is trained on and at least one held out.

    Returns:
        Data with x_* [N, n_tasks + n_bits] (multi-hot skills, then +-1 bits), t_train the number
        of skills of each training example minus 1 and t_test that of each test example.
    """
    tuples_CxJ = skill_tuples(cfg)
    n_tuples, n_tasks = tuples_CxJ.shape[0], cfg.n_tasks
    subset_TxK = skill_subsets(cfg, key)
    k_perm, k_tr, k_te, k_bits_tr, k_bits_te, k_rand = jax.random.split(jax.random.fold_in(key, 2), 6)
    order_C = jax.random.permutation(k_perm, n_tuples).astype(jnp.int32)
    n_seen = jnp.clip(jnp.round(train_frac * n_tuples), 1, n_tuples - 1).astype(jnp.int32)

    n_singles = n_tasks if cfg.compose_singles else 0
    pick_N = jax.random.randint(k_tr, (cfg.n_train,), 0, n_singles + n_seen)
    single_N = pick_N < n_singles
    mask_tr = jnp.where(single_N[:, None], jax.nn.one_hot(pick_N, n_tasks, dtype=jnp.int32),
                        _multi_hot(tuples_CxJ, order_C[jnp.maximum(pick_N - n_singles, 0)], n_tasks))

    size_N = jnp.asarray(sizes_of_test_rows(cfg))
    held_N = order_C[jax.random.randint(k_te, (cfg.n_test,), n_seen, n_tuples)]
    mask_te = jnp.where((size_N == cfg.compose_k)[:, None], _multi_hot(tuples_CxJ, held_N, n_tasks),
                        _random_tuples(k_rand, size_N, n_tasks))

    x_tr, y_tr = _skill_answers(cfg, k_bits_tr, mask_tr, subset_TxK)
    x_te, y_te = _skill_answers(cfg, k_bits_te, mask_te, subset_TxK)
    return Data(x_train=x_tr, y_train=y_tr, w_train=jnp.ones((cfg.n_train,), jnp.float32),
                t_train=(jnp.sum(mask_tr, axis=1) - 1).astype(jnp.int32),
                x_test=x_te, y_test=y_te, w_test=jnp.ones((cfg.n_test,), jnp.float32), t_test=size_N - 1)
