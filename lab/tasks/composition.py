"""Skill composition (Arora and Goyal 2023, on toy data): each example needs several skills at once.

There are n_tasks skills, each the parity of its own k of the n_bits bits (`skill_subsets`). An
example names a tuple of distinct skills in a multi-hot prefix, then shows the bits; its label is
the number of the named skills whose parity is 1 (compose_rule "count", classes 0..test_sizes) or
the parity of all their bits together ("xor", 2 classes).

Training: tuples of compose_k skills drawn from a fraction train_frac of all C(n_tasks, compose_k)
such tuples (the "text pieces" of the theory), with compose_mix also a fraction train_frac of the
tuples of every size 2..compose_k, and with compose_singles each skill alone. Test: equal shares of
tuples of 1, 2, ..., test_sizes skills, none of them a training tuple: the held-out tuples of the
trained sizes, and random tuples of the others (size 1: single skills on fresh inputs).
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


def skill_tuples(cfg: TaskConfig, size: int | None = None) -> np.ndarray:
    """Every tuple of `size` (default compose_k) distinct skills, int32 [C, size], in lexicographic order."""
    size = cfg.compose_k if size is None else size
    return np.asarray(list(itertools.combinations(range(cfg.n_tasks), size)), np.int32)


def train_sizes(cfg: TaskConfig) -> list[int]:
    """The tuple sizes trained on besides single skills: compose_k, or 2..compose_k with compose_mix."""
    if cfg.compose_mix and cfg.compose_k > 1:
        return [cfg.compose_k] + list(range(2, cfg.compose_k))
    return [cfg.compose_k]


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
        train_frac: fraction of the tuples of each trained size used for training (may be traced); at
            least one tuple of each is trained on and at least one held out.

    Returns:
        Data with x_* [N, n_tasks + n_bits] (multi-hot skills, then +-1 bits), t_train the number
        of skills of each training example minus 1 and t_test that of each test example.
    """
    n_tasks = cfg.n_tasks
    subset_TxK = skill_subsets(cfg, key)
    k_perm, k_tr, k_te, k_bits_tr, k_bits_te, k_rand = jax.random.split(jax.random.fold_in(key, 2), 6)
    n_singles = n_tasks if cfg.compose_singles else 0
    blocks = []  # per trained size: (size, tuples_CxJ, order_C, n_seen), compose_k first
    for size in train_sizes(cfg):
        tuples_CxJ = skill_tuples(cfg, size)
        n_tuples = tuples_CxJ.shape[0]
        k_order = k_perm if size == cfg.compose_k else jax.random.fold_in(k_perm, size)
        order_C = jax.random.permutation(k_order, n_tuples).astype(jnp.int32)
        blocks.append((size, tuples_CxJ, order_C, jnp.clip(jnp.round(train_frac * n_tuples), 1, n_tuples - 1)
                       .astype(jnp.int32)))

    # training: one uniform pick over single skills, then every size's seen tuples
    pick_N = jax.random.randint(k_tr, (cfg.n_train,), 0, n_singles + sum(b[3] for b in blocks))
    mask_tr = jax.nn.one_hot(pick_N, n_tasks, dtype=jnp.int32)  # the singles (rows past them are replaced)
    start = n_singles
    for _, tuples_CxJ, order_C, n_seen in blocks:
        inside_N = (pick_N >= start) & (pick_N < start + n_seen)
        chosen_N = order_C[jnp.clip(pick_N - start, 0, n_seen - 1)]
        mask_tr = jnp.where(inside_N[:, None], _multi_hot(tuples_CxJ, chosen_N, n_tasks), mask_tr)
        start = start + n_seen

    # test: held-out tuples of the trained sizes, random tuples of the others
    size_N = jnp.asarray(sizes_of_test_rows(cfg))
    mask_te = _random_tuples(k_rand, size_N, n_tasks)
    for size, tuples_CxJ, order_C, n_seen in blocks:
        k_held = k_te if size == cfg.compose_k else jax.random.fold_in(k_te, size)
        held_N = order_C[jax.random.randint(k_held, (cfg.n_test,), n_seen, tuples_CxJ.shape[0])]
        mask_te = jnp.where((size_N == size)[:, None], _multi_hot(tuples_CxJ, held_N, n_tasks), mask_te)

    x_tr, y_tr = _skill_answers(cfg, k_bits_tr, mask_tr, subset_TxK)
    x_te, y_te = _skill_answers(cfg, k_bits_te, mask_te, subset_TxK)
    return Data(x_train=x_tr, y_train=y_tr, w_train=jnp.ones((cfg.n_train,), jnp.float32),
                t_train=(jnp.sum(mask_tr, axis=1) - 1).astype(jnp.int32),
                x_test=x_te, y_test=y_te, w_test=jnp.ones((cfg.n_test,), jnp.float32), t_test=size_N - 1)
