"""The hand-written-gradient products equal the plain products, and do less work."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

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


def test_dense_product_is_the_product_and_vmapped_writes_its_weight_gradient_in_the_weights_order():
    x_MxBxI, w_MxIxO = jax.random.normal(jax.random.key(0), (3, 20, 7)), jax.random.normal(jax.random.key(1), (3, 7, 5))

    def grads(product):
        return jax.vmap(jax.value_and_grad(lambda x, w: jnp.sum(jnp.sin(product(x, w))), argnums=(0, 1)))

    got, want = grads(dense_product)(x_MxBxI, w_MxIxO), grads(jnp.matmul)(x_MxBxI, w_MxIxO)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got, want)

    def dot_shapes(product):  # the output shapes of the vmapped gradient's products
        jaxpr = jax.make_jaxpr(grads(product))(x_MxBxI, w_MxIxO).jaxpr
        return {e.outvars[0].aval.shape for e in jaxpr.eqns if e.primitive.name == "dot_general"}

    assert (3, 7, 5) in dot_shapes(dense_product)  # [M, I, O]: no transpose of the weight gradient after it
    assert (3, 7, 5) not in dot_shapes(jnp.matmul)  # autodiff's own rule writes [M, O, I] and transposes it


def test_dense_product_with_a_bias_row_is_the_product_with_a_column_of_ones_but_never_multiplies_it():
    x_BxI, w_JxO = jax.random.normal(jax.random.key(0), (20, 6)), jax.random.normal(jax.random.key(1), (7, 5))
    ones = jnp.concatenate([x_BxI, jnp.ones((20, 1))], axis=1)

    def grads(product, x):
        return jax.value_and_grad(lambda x, w: jnp.sum(jnp.sin(product(x, w))), argnums=(0, 1))(x, w_JxO)

    (loss, (d_x, d_w)), (want_loss, (want_d_ones, want_d_w)) = (
        grads(lambda x, w: dense_product(x, w, True), x_BxI), grads(jnp.matmul, ones))
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    np.testing.assert_allclose(d_w, want_d_w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d_x, want_d_ones[:, :6], rtol=1e-5, atol=1e-5)
    forward = jax.make_jaxpr(lambda x, w: dense_product(x, w, True))(x_BxI, w_JxO).jaxpr
    assert multiplied(forward, 0) == {(20, 6)}  # the forward product reads the data's 6 columns only
