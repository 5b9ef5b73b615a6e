"""Per-example losses and weighted means over a batch with padding weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def per_example_loss(logits_BxC: jax.Array, y_B: jax.Array, kind: str) -> jax.Array:
    """Loss of each example, [B].

    cross_entropy: -log softmax(logits)[y]; cross_entropy_class_mean: the same divided by the
    number of classes (the PAIR explorable's convention); mse: mean over classes of
    (logits - one_hot(y))^2.
    """
    n_classes = logits_BxC.shape[-1]
    if kind == "mse":
        return jnp.mean(jnp.square(logits_BxC - jax.nn.one_hot(y_B, n_classes)), axis=-1)
    logp_BxC = jax.nn.log_softmax(logits_BxC, axis=-1)
    nll_B = -jnp.take_along_axis(logp_BxC, y_B[:, None], axis=-1)[:, 0]
    return nll_B / n_classes if kind == "cross_entropy_class_mean" else nll_B


def weighted_mean(v_B: jax.Array, w_B: jax.Array) -> jax.Array:
    """Mean of v over the examples with weight > 0 (nan-safe when every weight is 0)."""
    return jnp.sum(v_B * w_B) / jnp.maximum(jnp.sum(w_B), 1.0)


def accuracy(logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    """1.0 where the argmax is the label, per example, [B]."""
    return (jnp.argmax(logits_BxC, axis=-1) == y_B).astype(jnp.float32)
