"""Multitask sparse parity (Michaud et al. 2023): Zipf-distributed subtasks, each a k-bit parity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lab.config import TaskConfig
from lab.tasks.data import Data
from lab.tasks.parity import code_bits


def zipf_probs(n_tasks: int, exponent: float) -> np.ndarray:
    """Zipf task probabilities p_i proportional to (i + 1) ** -exponent, i = 0 .. n_tasks - 1.

    Args:
        n_tasks: number of subtasks.
        exponent: Zipf exponent (0 gives the uniform distribution).

    Returns:
        float64 [n_tasks] probabilities summing to 1, non-increasing.
    """
    w_T = np.arange(1, n_tasks + 1, dtype=np.float64) ** -float(exponent)
    return w_T / w_T.sum()


def task_subsets(cfg: TaskConfig, key: jax.Array) -> jax.Array:
    """The k data bits each subtask reads: the ones `make_multitask_parity(cfg, key)` uses.

    Each row is an independent uniform random k-subset of range(n_bits), sorted.

    Args:
        cfg: the task config (name "multitask_parity"); static.
        key: the same PRNG key given to make_multitask_parity.

    Returns:
        int32 [n_tasks, k] bit indices.
    """
    u_TxB = jax.random.uniform(jax.random.fold_in(key, 0), (cfg.n_tasks, cfg.n_bits))
    subset_TxK = jnp.argsort(u_TxB, axis=1)[:, : cfg.k]
    return jnp.sort(subset_TxK, axis=1).astype(jnp.int32)


def _examples(cfg: TaskConfig, key: jax.Array, task_N: jax.Array, subset_TxK: jax.Array):
    """Inputs [N, n_tasks + n_bits] and parity labels [N] for the given task ids."""
    bits01_NxB = jax.random.bernoulli(key, 0.5, (task_N.shape[0], cfg.n_bits)).astype(jnp.int32)
    read_NxK = jnp.take_along_axis(bits01_NxB, subset_TxK[task_N], axis=1)
    y_N = (jnp.sum(read_NxK, axis=1) % 2).astype(jnp.int32)
    onehot_NxT = jax.nn.one_hot(task_N, cfg.n_tasks, dtype=jnp.float32)
    x_NxD = jnp.concatenate([onehot_NxT, code_bits(cfg, bits01_NxB)], axis=1)
    return x_NxD, y_N


def _zipf_tasks(cfg: TaskConfig, key: jax.Array, n: int) -> jax.Array:
    """n task ids drawn i.i.d. with the Zipf frequencies, int32 [n]."""
    logp_T = jnp.log(jnp.asarray(zipf_probs(cfg.n_tasks, cfg.zipf_exponent), jnp.float32))
    return jax.random.categorical(key, logp_T, shape=(n,)).astype(jnp.int32)


def fresh_multitask_parity(cfg: TaskConfig, data_key: jax.Array, key: jax.Array, n: int):
    """n fresh examples (inputs, labels) of the subtasks `task_subsets(cfg, data_key)` defines: infinite data."""
    k_task, k_bits = jax.random.split(key)
    return _examples(cfg, k_bits, _zipf_tasks(cfg, k_task, n), task_subsets(cfg, data_key))


def make_multitask_parity(cfg: TaskConfig, key: jax.Array) -> Data:
    """A multitask sparse parity dataset.

    Input = concat(one_hot(task, n_tasks), bits in {-1, +1}^n_bits, or {0, 1} with task.bits = "01") as float32; the label is 1
    iff the product of the task's k bits (see `task_subsets`) is -1. Training tasks are drawn
    i.i.d. with `zipf_probs(n_tasks, zipf_exponent)`; test tasks are uniform and balanced
    (task ids cycle through 0 .. n_tasks - 1, then are shuffled), so every task has
    floor(n_test / n_tasks) or one more test examples. Bits are i.i.d. (train and test may share
    rows with probability about n_train * n_test / 2**n_bits). All weights are 1; t_* hold the
    task ids. Jittable and vmappable over `key`.

    Args:
        cfg: the task config (name "multitask_parity"); static.
        key: a PRNG key.

    Returns:
        Data with x_train [n_train, n_tasks + n_bits] and x_test [n_test, n_tasks + n_bits].
    """
    subset_TxK = task_subsets(cfg, key)
    k_task_tr, k_task_te, k_bits_tr, k_bits_te = jax.random.split(jax.random.fold_in(key, 1), 4)
    task_tr_N = _zipf_tasks(cfg, k_task_tr, cfg.n_train)
    task_te_N = jax.random.permutation(k_task_te, jnp.arange(cfg.n_test, dtype=jnp.int32) % cfg.n_tasks)
    x_tr, y_tr = _examples(cfg, k_bits_tr, task_tr_N, subset_TxK)
    x_te, y_te = _examples(cfg, k_bits_te, task_te_N, subset_TxK)
    return Data(
        x_train=x_tr,
        y_train=y_tr,
        w_train=jnp.ones((cfg.n_train,), jnp.float32),
        t_train=task_tr_N,
        x_test=x_te,
        y_test=y_te,
        w_test=jnp.ones((cfg.n_test,), jnp.float32),
        t_test=task_te_N,
    )
