"""Sparse parity: the label is the parity of the first k of n_bits random bits (coded +-1 or 0/1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lab.config import TaskConfig
from lab.tasks.data import Data

# Up to this many bits, inputs are drawn as distinct integers (a permutation of 2**n_bits).
MAX_EXACT_BITS = 20


def _distinct_bits01(key: jax.Array, n: int, n_bits: int) -> jax.Array:
    """n distinct rows of n_bits {0, 1} bits (int32 [n, n_bits]), from a permutation of 2**n_bits."""
    idx_N = jax.random.permutation(key, 2**n_bits)[:n]
    shift_1xB = jnp.arange(n_bits, dtype=jnp.int32)[None, :]
    return (idx_N[:, None] >> shift_1xB) & 1


def random_bits01(key: jax.Array, n: int, n_bits: int) -> jax.Array:
    """n rows of n_bits {0, 1} bits (int32 [n, n_bits]); rows are distinct when n_bits <= 20."""
    if n_bits <= MAX_EXACT_BITS:
        return _distinct_bits01(key, n, n_bits)
    # Independent uniform bits: rows may repeat, but the expected number of test rows that also
    # occur in the training set is n_train * n_test / 2**n_bits (about 0.005 rows for the
    # default 1000 train x 5000 test at 30 bits), which is negligible for accuracy measurements.
    return jax.random.bernoulli(key, 0.5, (n, n_bits)).astype(jnp.int32)


def to_pm1(bits01_NxB: jax.Array) -> jax.Array:
    """Map {0, 1} bits to float32 {+1, -1} (bit 1 is -1)."""
    return (1 - 2 * bits01_NxB).astype(jnp.float32)


def code_bits(cfg: TaskConfig, bits01_NxB: jax.Array) -> jax.Array:
    """The model's input for {0, 1} bits: +-1 (bit 1 is -1) or, with cfg.bits = "01", the bits as floats."""
    return to_pm1(bits01_NxB) if cfg.bits == "pm1" else bits01_NxB.astype(jnp.float32)


def _label(cfg: TaskConfig, bits01_NxB: jax.Array) -> jax.Array:
    """1 where the first k bits hold an odd number of 1s, int32 [N]."""
    return (jnp.sum(bits01_NxB[:, : cfg.k], axis=1) % 2).astype(jnp.int32)


def fresh_parity(cfg: TaskConfig, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """n fresh i.i.d. examples (inputs [n, n_bits], labels [n]): infinite data, one draw per step."""
    bits01_NxB = jax.random.bernoulli(key, 0.5, (n, cfg.n_bits)).astype(jnp.int32)
    return code_bits(cfg, bits01_NxB), _label(cfg, bits01_NxB)


def make_parity(cfg: TaskConfig, key: jax.Array) -> Data:
    """A sparse parity dataset: label 1 iff the first k bits hold an odd number of 1s.

    Inputs are float32 in {-1, +1}^n_bits (bit 1 is -1), or with cfg.bits = "01" the bits themselves. The training set (cfg.n_train rows) and the test set
    (cfg.n_test rows) are disjoint when n_bits <= 20 (distinct integers, decoded to bits);
    above that bits are drawn independently and collisions are negligible. All weights are 1
    and task ids 0. Jittable and vmappable over `key`.

    Args:
        cfg: the task config (name "parity"); static.
        key: a PRNG key.

    Returns:
        Data with x_train [n_train, n_bits] and x_test [n_test, n_bits].
    """
    n_tr, n_te = cfg.n_train, cfg.n_test
    bits01_NxB = random_bits01(key, n_tr + n_te, cfg.n_bits)
    y_N = _label(cfg, bits01_NxB)
    x_NxB = code_bits(cfg, bits01_NxB)
    return Data(
        x_train=x_NxB[:n_tr],
        y_train=y_N[:n_tr],
        w_train=jnp.ones((n_tr,), jnp.float32),
        t_train=jnp.zeros((n_tr,), jnp.int32),
        x_test=x_NxB[n_tr:],
        y_test=y_N[n_tr:],
        w_test=jnp.ones((n_te,), jnp.float32),
        t_test=jnp.zeros((n_te,), jnp.int32),
    )
