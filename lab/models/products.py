"""Products with hand-written gradients for the MLP's first layer: a one-hot block read as a gather, and a
dense product whose weight gradient keeps the weight's order (and may carry a bias row)."""

from __future__ import annotations

from functools import partial

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
    id_B, value_B = _one_hot_ids(block_BxT)
    return w_TxF[id_B] * value_B[:, None]


def _one_hot_product_fwd(block_BxT, w_TxF):
    id_B, value_B = _one_hot_ids(block_BxT)
    return w_TxF[id_B] * value_B[:, None], (id_B, value_B, w_TxF)


def _one_hot_product_bwd(residuals, g_BxF):
    id_B, value_B, w_TxF = residuals
    d_w_TxF = jax.ops.segment_sum(g_BxF * value_B[:, None], id_B, num_segments=w_TxF.shape[0])
    return g_BxF @ w_TxF.T, d_w_TxF


one_hot_product.defvjp(_one_hot_product_fwd, _one_hot_product_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def dense_product(h_BxI: jax.Array, w_JxO: jax.Array, bias_row: bool = False) -> jax.Array:
    """h @ w; with bias_row, w has one more row than h has columns, added as a bias (a constant-1 input's weight).

    Its weight gradient is computed as h^T g in the weight's own [J, O] order (a bias row's as the product with
    a column of ones, in the same contraction). Autodiff's rule, vmapped over models, computes it as g^T h
    ([M, O, I]) and transposes that: on XLA:CPU the product has a slow layout and the transpose is one more pass
    (1.3x on a width-258 parity model, measured). The forward product never contracts a column of ones, which
    with 31 inputs went through a slow XLA:CPU kernel (1.15x on the same model). Each gradient is computed only
    where it is needed (none for the input when it is the data).
    """
    return _forward(h_BxI, w_JxO, bias_row)


def _forward(h_BxI, w_JxO, bias_row):
    return h_BxI @ w_JxO[:-1] + w_JxO[-1][None] if bias_row else h_BxI @ w_JxO


def _dense_product_fwd(h, w, bias_row):  # symbolic zeros: h and w say whether they need a gradient
    residuals = (h.value if w.perturbed else None, w.value if h.perturbed else None)
    return _forward(h.value, w.value, bias_row), residuals


def _dense_product_bwd(bias_row, residuals, g_BxO):
    h_BxI, w_JxO = residuals
    d_h_BxI = None if w_JxO is None else g_BxO @ (w_JxO[:-1] if bias_row else w_JxO).T
    if h_BxI is not None and bias_row:
        h_BxI = jnp.concatenate([h_BxI, jnp.ones(h_BxI.shape[:-1] + (1,), h_BxI.dtype)], axis=-1)
    d_w_JxO = None if h_BxI is None else jnp.einsum("bj,bo->jo", h_BxI, g_BxO)
    return d_h_BxI, d_w_JxO


dense_product.defvjp(_dense_product_fwd, _dense_product_bwd, symbolic_zeros=True)
