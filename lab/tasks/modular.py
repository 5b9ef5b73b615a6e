"""Modular arithmetic over Z_p (and integer arithmetic on [0, p)): the table of all examples and its
train/test split, random or read from a file (task.split_from)."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lab import references
from lab.config import SpecError, TaskConfig
from lab.tasks.data import Data


def _pow_mod(base_N: np.ndarray, exp: int, p: int) -> np.ndarray:
    """base_N ** exp mod p elementwise, by square-and-multiply in int64."""
    result_N = np.ones_like(base_N)
    b_N = base_N % p
    while exp > 0:
        if exp & 1:
            result_N = result_N * b_N % p
        b_N = b_N * b_N % p
        exp >>= 1
    return result_N


# Each op maps int64 operands in [0, p) to an int64 value congruent to the label; every
# intermediate stays below 3 p^2, so int64 does not overflow for any table that fits in memory.
_OPS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "x+y": lambda a, b, p: a + b,
    "x-y": lambda a, b, p: a - b,
    "x*y": lambda a, b, p: a * b,
    "x/y": lambda a, b, p: a * _pow_mod(b, p - 2, p),
    "x^2+y^2": lambda a, b, p: a * a + b * b,
    "x^2+xy+y^2": lambda a, b, p: a * a + a * b + b * b,
    "x^3+xy": lambda a, b, p: (a * a % p) * a + a * b,
}


def modular_size(cfg: TaskConfig) -> int:
    """Number of distinct examples N of a modular task ("x/y" excludes the pairs with y = 0)."""
    return cfg.n_examples()


def all_pairs(cfg: TaskConfig) -> tuple[np.ndarray, np.ndarray]:
    """Every example of a modular task, in a fixed order.

    The order is row-major over (a, b) in [0, p)^2, keeping only pairs with a <= b when
    cfg.symmetric and only pairs with b != 0 for "x/y" (where a/b = a * b^(p-2) mod p) or cfg.nonzero_y.

    Args:
        cfg: the task config (name "modular").

    Returns:
        (ab_Nx2, y_N): numpy int32 operand pairs and their labels in [0, p) (integer task: the result
        minus `cfg.result_range()[0]`), N = modular_size(cfg).
    """
    p = cfg.p
    a_PxP, b_PxP = np.meshgrid(np.arange(p, dtype=np.int64), np.arange(p, dtype=np.int64), indexing="ij")
    a_M, b_M = a_PxP.ravel(), b_PxP.ravel()
    keep_M = np.ones(a_M.shape, dtype=bool)
    if cfg.symmetric:
        keep_M &= a_M <= b_M
    if cfg.op == "x/y" or cfg.nonzero_y:
        keep_M &= b_M != 0
    a_N, b_N = a_M[keep_M], b_M[keep_M]
    if cfg.name == "integer":  # the result itself, shifted so that the smallest result is class 0
        y_N = _OPS[cfg.op](a_N, b_N, p) - cfg.result_range()[0]
    else:
        y_N = _OPS[cfg.op](a_N, b_N, p) % p
    return np.stack([a_N, b_N], axis=1).astype(np.int32), y_N.astype(np.int32)


def fixed_split(cfg: TaskConfig) -> tuple[np.ndarray, int | None]:
    """task.split_from's order of every example [N] (int32 indices into `all_pairs`) and the count it fixes.

    A file's `train_index` fixes the training set: its rows in its order, then the other rows in table order,
    and their count (task.train_frac must name it within one example). A file's `order` holds every row once, in
    the order a peer's shuffled table takes them; the first round(train_frac * N) train, as after a random
    permutation, so train_frac may vary (nested splits) and the count is None.

    Raises SpecError when the file has neither as a 1-D array, repeats a row, names a row the table does not
    have, holds an `order` without every row, or a `train_index` whose count task.train_frac does not name.
    """
    n_all = modular_size(cfg)
    order_N, n_fixed = _split_file(cfg.split_from, n_all)
    if n_fixed is not None and not abs(cfg.train_frac * n_all - n_fixed) < 1:
        raise SpecError(f"task.split_from = {cfg.split_from!r} trains on {n_fixed} of {n_all} examples, but "
                        f"task.train_frac = {cfg.train_frac} names {cfg.train_frac * n_all:.1f}; "
                        f"set task.train_frac = {n_fixed / n_all:.6g}")
    return order_N, n_fixed


@lru_cache(maxsize=8)
def _split_file(name: str, n_all: int) -> tuple[np.ndarray, int | None]:
    """A split file's order of all n_all rows and its fixed count (None for an `order`), read and checked once."""
    field = f"task.split_from = {name!r}"
    arrays = references.arrays(name, "task.split_from")
    kinds = [k for k in references.SPLIT_KEYS if k in arrays and arrays[k].ndim == 1]
    if len(kinds) != 1:
        raise SpecError(f"{field} needs one 1-D train_index (the training rows) or order (every row, the first "
                        f"train_frac of them train); its arrays: {', '.join(arrays) or 'none'}")
    kind = kinds[0]
    rows_N = arrays[kind].astype(np.int64)
    if rows_N.size and not 0 <= rows_N.min() <= rows_N.max() < n_all:
        raise SpecError(f"{field}: {kind} holds rows outside [0, {n_all}), the {n_all} examples of this task")
    if np.unique(rows_N).size != rows_N.size:
        raise SpecError(f"{field}: {kind} names a row more than once")
    if kind == "order":
        if rows_N.size != n_all:
            raise SpecError(f"{field}: order holds {rows_N.size} rows; it must hold every one of the task's {n_all}")
        return rows_N.astype(np.int32), None
    rest_R = np.setdiff1d(np.arange(n_all), rows_N)
    return np.concatenate([rows_N, rest_R]).astype(np.int32), rows_N.size


def token_sequences(cfg: TaskConfig, ab_Nx2: jax.Array, y_N: jax.Array) -> jax.Array:
    """A transformer's tokens [N, L] for operand pairs (task.sequence; numbers 0..p-1, "=" p, op p+1, <eos> p+2)."""
    n = ab_Nx2.shape[0]
    eq_N, op_N, eos_N = (jnp.full((n,), cfg.p + i, jnp.int32) for i in range(3))
    a_N, b_N = ab_Nx2[:, 0], ab_Nx2[:, 1]
    columns = {"a_b_eq": (a_N, b_N, eq_N), "a_op_b_eq": (a_N, op_N, b_N, eq_N),
               "eos_a_op_b_eq_c": (eos_N, a_N, op_N, b_N, eq_N, y_N)}[cfg.sequence]
    return jnp.stack(columns, axis=1).astype(jnp.int32)


def eos_token(cfg: TaskConfig) -> int:
    """The <eos> token's id (the second answer of task.sequence = "eos_a_op_b_eq_c")."""
    return cfg.p + 2


def make_modular(
    cfg: TaskConfig, key: jax.Array, train_frac: float | jax.Array, n_train_max: int, as_tokens: bool
) -> Data:
    """A random train/test split of all the examples of a modular task, or task.split_from's.

    The N examples are permuted with `key`; the first n_train = round(train_frac * N) are the
    training set (computed in float32, clipped to n_train_max) and the rest the test set.
    With task.split_from the permutation is the file's (`fixed_split`) and key is not read; with its
    `train_index`, train_frac is not read either.
    Jittable and vmappable over `key` and `train_frac`.

    Args:
        cfg: the task config (name "modular"); static.
        key: a PRNG key for the permutation.
        train_frac: fraction of the N examples used for training; may be a traced scalar.
        n_train_max: static row count of x_train, >= every n_train it will be used with.
        as_tokens: inputs are token sequences (`token_sequences`: by default [a, b, p], p is "=") instead of [a, b].

    Returns:
        Data with x_train [n_train_max, D] (rows past n_train have w_train = 0) and x_test the
        whole permuted table [N, D] with w_test = 1 exactly on the rows not trained on;
        D = task.n_ctx if as_tokens else 2. t_train and t_test are zeros.
    """
    ab_Nx2, y_N = all_pairs(cfg)
    n_all = y_N.shape[0]
    if not 1 <= n_train_max <= n_all:
        raise ValueError(f"n_train_max must be in [1, {n_all}] (got {n_train_max})")
    x_NxD = token_sequences(cfg, jnp.asarray(ab_Nx2), jnp.asarray(y_N)) if as_tokens else jnp.asarray(ab_Nx2)
    order_N, n_fixed = fixed_split(cfg) if cfg.split_from else (None, None)
    perm_N = jax.random.permutation(key, n_all) if order_N is None else jnp.asarray(order_N)
    if n_fixed is None:
        n_train = jnp.round(jnp.asarray(train_frac, jnp.float32) * n_all)
        n_train = jnp.clip(n_train, 0, n_train_max).astype(jnp.int32)
    else:
        n_train = jnp.int32(min(n_fixed, n_train_max))
    x_test_NxD = x_NxD[perm_N]
    y_test_N = jnp.asarray(y_N)[perm_N]
    row_N = jnp.arange(n_all, dtype=jnp.int32)
    return Data(
        x_train=x_test_NxD[:n_train_max],
        y_train=y_test_N[:n_train_max],
        w_train=(row_N[:n_train_max] < n_train).astype(jnp.float32),
        t_train=jnp.zeros((n_train_max,), jnp.int32),
        x_test=x_test_NxD,
        y_test=y_test_N,
        w_test=(row_N >= n_train).astype(jnp.float32),
        t_test=jnp.zeros((n_all,), jnp.int32),
    )
