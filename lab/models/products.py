"""Products with hand-written gradients for the MLP's layers: a one-hot block read as a gather, and a dense
product (with its bias) whose gradients are laid out for XLA:CPU's kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _one_hot_ids(block_BxT: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each row's nonzero column and its value (column 0 and 0.0 for a row of zeros)."""
    id_B = jnp.argmax(jnp.abs(block_BxT), axis=1)
    return id_B, jnp.take_along_axis(block_BxT, id_B[:, None], axis=1)[:, 0]


@jax.custom_vjp
def one_hot_product(block_BxT: jax.Array, w_TxF: jax.Array) -> jax.Array:
    """block @ w for a block with at most one nonzero per row (a one-hot id): the id's row of w, times the value.

    A gather in place of B x T x F multiply-adds; the weight gradient is a segment sum over the ids (no product
    either), and the input gradient g @ w.T is the product's own, computed only where it is used.
    """
    return _one_hot_product_fwd(block_BxT, w_TxF)[0]


def _one_hot_product_fwd(block_BxT, w_TxF):
    id_B, value_B = _one_hot_ids(block_BxT)
    return w_TxF[id_B] * value_B[:, None], (id_B, value_B, w_TxF)


def _one_hot_product_bwd(residuals, g_BxF):
    id_B, value_B, w_TxF = residuals
    d_w_TxF = jax.ops.segment_sum(g_BxF * value_B[:, None], id_B, num_segments=w_TxF.shape[0])
    return g_BxF @ w_TxF.T, d_w_TxF


one_hot_product.defvjp(_one_hot_product_fwd, _one_hot_product_bwd)


SMALL_OUT = 4  # outputs up to which the input gradient is a sum of broadcast products rather than a product


@jax.custom_vjp
def dense_product(h_BxI: jax.Array, w_IxO: jax.Array, b_O: jax.Array | None = None) -> jax.Array:
    """h @ w (+ b), with gradients laid out for XLA:CPU's kernels (the same sums as autodiff's, in other orders).

    - The weight gradient h^T g is written with the longer of its two sides as the rows' contiguous axis: in the
      weight's [I, O] order for a first layer ([31, 258] on a parity model), as g^T h, [O, I], then transposed
      for a readout ([2, 1000]). XLA:CPU's product is several times slower the other way round (1.3x to 8x,
      measured), and folds a transpose back into the product unless an optimization barrier stands between.
    - A first layer's bias gradient is one more row of that product (h with a column of ones), not a separate
      pass over g; a readout's is the sum of g's rows, which are few.
    - With at most SMALL_OUT outputs, the input gradient g @ w^T is written as a sum of O broadcast products:
      an elementwise loop that XLA fuses with the activation's derivative, where a product with an inner
      dimension of 2 wrote the [B, I] array once more.
    - Each gradient is computed only where it is needed (none for the input when it is the data).
    """
    return _forward(h_BxI, w_IxO, b_O)


def _forward(h_BxI, w_IxO, b_O):
    return h_BxI @ w_IxO if b_O is None else h_BxI @ w_IxO + b_O[None]


def _dense_product_fwd(h, w, b):  # symbolic zeros: each input says whether it needs a gradient
    needs_w = w.perturbed or (b is not None and b.perturbed)
    residuals = (h.value if needs_w else None, w.value if h.perturbed else None, None if b is None else [])
    return _forward(h.value, w.value, None if b is None else b.value), residuals


def _dense_product_bwd(residuals, g_BxO):
    h_BxI, w_IxO, bias = residuals
    n_out = g_BxO.shape[-1]
    d_h_BxI = None
    if w_IxO is not None:
        d_h_BxI = (sum(g_BxO[:, o, None] * w_IxO[None, :, o] for o in range(n_out)) if n_out <= SMALL_OUT
                   else g_BxO @ jax.lax.optimization_barrier(w_IxO.T))
    if h_BxI is None:
        return d_h_BxI, None, None
    if h_BxI.shape[-1] > n_out:  # a readout: [O, I] rows, transposed after the barrier
        d_w_IxO = jax.lax.optimization_barrier(jnp.einsum("bo,bi->oi", g_BxO, h_BxI)).T
        return d_h_BxI, d_w_IxO, None if bias is None else jnp.sum(g_BxO, axis=0)
    if bias is None:
        return d_h_BxI, jnp.einsum("bi,bo->io", h_BxI, g_BxO), None
    ones_Bx1 = jnp.ones(h_BxI.shape[:-1] + (1,), h_BxI.dtype)  # the bias: the row of a column of ones
    d_w_JxO = jnp.einsum("bj,bo->jo", jnp.concatenate([h_BxI, ones_Bx1], axis=-1), g_BxO)
    return d_h_BxI, d_w_JxO[:-1], d_w_JxO[-1]


dense_product.defvjp(_dense_product_fwd, _dense_product_bwd, symbolic_zeros=True)
