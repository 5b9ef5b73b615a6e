"""lab.models.attention_layouts: the softmax and the value mix over few positions equal jax.nn.softmax and the
einsum, with their gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lab.models import attention_layouts


def test_softmax_over_few_positions_is_jax_softmax_with_its_gradient():
    x = jax.random.normal(jax.random.key(0), (5, 4, 2, 3)) * 4
    x = jnp.where(jnp.arange(3)[None, None, None] <= jnp.array([1, 2])[None, None, :, None], x, -jnp.inf)  # causal
    np.testing.assert_allclose(attention_layouts.softmax_few(x), jax.nn.softmax(x, axis=-1), rtol=1e-6, atol=1e-7)
    w = jax.random.normal(jax.random.key(1), x.shape)
    grad, grad_ref = (jax.grad(lambda z, f=f: jnp.sum(w * f(z)))(x) for f in (attention_layouts.softmax_few, jax.nn.softmax))
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-5, atol=1e-6)
    assert float(attention_layouts.softmax_few(x)[0, 0, 0, 2]) == 0.0  # a masked position gets no weight


def test_mixing_values_is_the_pattern_weighted_sum_with_its_gradients():
    pattern = jax.nn.softmax(jax.random.normal(jax.random.key(0), (6, 4, 2, 3)), axis=-1)  # [B, H, Q, L]
    v = jax.random.normal(jax.random.key(1), (6, 3, 4, 8))  # [B, L, H, E]
    g = jax.random.normal(jax.random.key(2), (6, 2, 4, 8))

    def reference(p, v):
        return jnp.einsum("bhql,blhe->bqhe", p, v)

    np.testing.assert_allclose(attention_layouts.mix_values(pattern, v), reference(pattern, v), rtol=1e-6, atol=1e-6)
    grads, grads_ref = (jax.grad(lambda p, v, f=f: jnp.sum(g * f(p, v)), argnums=(0, 1))(pattern, v)
                        for f in (attention_layouts.mix_values, reference))
    for a, b in zip(grads, grads_ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
