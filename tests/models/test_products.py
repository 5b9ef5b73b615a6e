"""The hand-written-gradient products equal the plain products, and do less work."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.models.products import dense_product, one_hot_product
from tests.helpers import multiplied


def test_one_hot_product_is_the_product_and_its_gradients_read_as_a_gather():
    id_B = jnp.array([2, 0, 5, 2, 1])
    block_BxT = jax.nn.one_hot(id_B, 6) * jnp.array([1.0, 2.5, 1.0, 0.0, -1.0])[:, None]  # a 2.5, a zero row, a -1
    w_TxF = jax.random.normal(jax.random.key(0), (6, 4))

    def grads(product):
        return jax.value_and_grad(lambda b, w: jnp.sum(jnp.sin(product(b, w))), argnums=(0, 1))(block_BxT, w_TxF)

    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 grads(one_hot_product), grads(jnp.matmul))
    forward = jax.make_jaxpr(one_hot_product)(block_BxT, w_TxF).jaxpr
    assert multiplied(forward, 0) == set()  # no product in the forward pass: a gather of w's rows


@pytest.mark.parametrize("n_in, n_out, bias", [(7, 5, False), (7, 5, True), (5, 7, False), (5, 7, True),
                                                (6, 2, True)])
def test_dense_product_is_the_product_and_its_gradients_vmapped(n_in, n_out, bias):
    keys = jax.random.split(jax.random.key(n_in * n_out), 3)
    x_MxBxI, w_MxIxO = jax.random.normal(keys[0], (3, 20, n_in)), jax.random.normal(keys[1], (3, n_in, n_out))
    b_MxO = jax.random.normal(keys[2], (3, n_out)) if bias else None

    def grads(product):
        return jax.vmap(jax.value_and_grad(lambda x, w, b: jnp.sum(jnp.sin(product(x, w, b))), argnums=(0, 1, 2)))

    plain = lambda x, w, b: x @ w if b is None else x @ w + b[None]  # noqa: E731
    got, want = grads(dense_product)(x_MxBxI, w_MxIxO, b_MxO), grads(plain)(x_MxBxI, w_MxIxO, b_MxO)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got, want)

    jaxpr = jax.make_jaxpr(grads(dense_product))(x_MxBxI, w_MxIxO, b_MxO).jaxpr
    products = {e.outvars[0].aval.shape for e in jaxpr.eqns if e.primitive.name == "dot_general"}
    if n_out >= n_in:  # a first layer: [M, I, O] in the weight's order, the bias as the row of a column of ones
        assert products == {(3, 20, n_out), (3, 20, n_in), (3, n_in + bias, n_out)}
    else:  # a readout: [M, O, I], the longer side as the rows
        assert (3, n_out, n_in) in products and (3, n_in, n_out) not in products
    if n_out <= 4:  # the input gradient is no product with an inner dimension of n_out
        assert (3, 20, n_in) not in products


def test_dense_product_reads_no_input_gradient_for_data():
    x_BxI, w_IxO = jax.random.normal(jax.random.key(0), (20, 6)), jax.random.normal(jax.random.key(1), (6, 9))
    jaxpr = jax.make_jaxpr(jax.grad(lambda w: jnp.sum(dense_product(x_BxI, w) ** 2)))(w_IxO).jaxpr
    assert multiplied(jaxpr, 0) == {(20, 6)}  # the forward product and the weight gradient; no g @ w^T
