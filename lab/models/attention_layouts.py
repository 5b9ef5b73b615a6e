"""The attention's math over its few positions, laid out for XLA:CPU: when the first block's scores come from a
table of every (query row, key row) pair, and a softmax and a value mix written elementwise over the positions.
Plain JAX (no Flax): `lab.models.linen`'s Attention calls them."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# The first block's scores come from a table of every (query row, key row) pair when V^2 <= this x B: V^2 / B
# times the multiply-adds of the per-example scores, as H products that XLA:CPU runs about 40x faster per
# multiply-add than B x H products of [1 x E] x [E x L] (Nanda's model: ~100 against 2-3 GFLOP/s, profiled)
SCORE_TABLE_RATIO = 16


def uses_score_table(n_vocab: int, n_rows: int) -> bool:
    """Whether the first block computes its scores from the (query row, key row) table for a batch of n_rows."""
    return n_vocab * n_vocab <= SCORE_TABLE_RATIO * n_rows


def head_blocks(n_heads: int, d_head: int) -> jax.Array:
    """[H, H E]: row h is 1 on head h's E columns (spreads a per-head number over the head's columns)."""
    return jnp.asarray(np.kron(np.eye(n_heads), np.ones((1, d_head))), jnp.float32)


def softmax_few(x_NxL: jax.Array) -> jax.Array:
    """Softmax over a short last axis (the few positions of an attention row), as jax.nn.softmax, written over
    its L columns one by one: elementwise ops only (XLA:CPU runs reductions over a short minor axis slowly)."""
    cols = [x_NxL[..., i] for i in range(x_NxL.shape[-1])]
    top = jax.lax.stop_gradient(functools.reduce(jnp.maximum, cols))
    exps = [jnp.exp(c - top) for c in cols]
    total = functools.reduce(jnp.add, exps)
    return jnp.stack([e / total for e in exps], axis=-1)


def mix_values(pattern_BxHxQxL: jax.Array, v_BxLxHxE: jax.Array) -> jax.Array:
    """z [B, Q, H, E] = sum over l of pattern[b, h, q, l] v[b, l, h]: the pattern spread over each head's columns
    by a product with `head_blocks` (so its gradient is a product too), then a sum over the few positions."""
    n_b, n_h, n_q, n_l = pattern_BxHxQxL.shape
    n_he = n_h * v_BxLxHxE.shape[-1]
    spread_BxQxLxHE = (pattern_BxHxQxL.transpose(0, 2, 3, 1).reshape(-1, n_h)
                       @ head_blocks(n_h, v_BxLxHxE.shape[-1])).reshape(n_b, n_q, n_l, n_he)
    v_BxLxHE = v_BxLxHxE.reshape(n_b, n_l, n_he)
    z_BxQxHE = functools.reduce(jnp.add, [spread_BxQxLxHE[:, :, i] * v_BxLxHE[:, None, i] for i in range(n_l)])
    return z_BxQxHE.reshape(n_b, n_q, n_h, -1)
