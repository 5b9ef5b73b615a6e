"""Gradient transformations from the grokking literature, as optax pieces that chain before any optimizer.

    optax.chain(grokfast_ema(alpha, lamb), orthogonal_gradient(), optax.adamw(1e-3))

- Grokfast (Lee et al. 2024, arXiv 2405.20233): add lambda times a low-pass filter of the gradient
  (an exponential moving average, or the mean over a window of past steps) to the gradient, which
  amplifies its slow component.
- Orthogonal gradient (Prieto et al. 2025, arXiv 2501.04697, "⊥Grad"): remove from each parameter's
  gradient its component along that parameter's weights, then rescale it to the gradient's norm, so
  the update cannot simply scale the weights up (the naive loss minimization that ends in softmax
  collapse).

Their states are pytrees of arrays, so they live in the optimizer state, are checkpointed with it,
and vmap over models; alpha and lambda may be traced per-model scalars.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class GrokfastEmaState(NamedTuple):
    """The EMA of past gradients (initialized by the first gradient) and the step count."""

    ema: Any
    count: jax.Array


def grokfast_ema(alpha: Any = 0.98, lamb: Any = 2.0) -> optax.GradientTransformation:
    """Grokfast-EMA: ema <- alpha ema + (1 - alpha) g (ema = g at the first step); g <- g + lamb ema.

    As the reference implementation, the filter starts from the first gradient, not from zeros.
    With lamb = 0 it is the identity.
    """

    def init(params):
        return GrokfastEmaState(jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        del params
        first = state.count == 0
        ema = jax.tree.map(lambda m, g: jnp.where(first, g, alpha * m + (1 - alpha) * g), state.ema, updates)
        out = jax.tree.map(lambda g, m: g + lamb * m, updates, ema)
        return out, GrokfastEmaState(ema, state.count + 1)

    return optax.GradientTransformation(init, update)


class GrokfastMaState(NamedTuple):
    """The last `window` gradients (a ring buffer [window, ...] per leaf), their running sum and the step count."""

    buffer: Any
    total: Any
    count: jax.Array


def grokfast_ma(window: int = 100, lamb: Any = 5.0) -> optax.GradientTransformation:
    """Grokfast-MA: g <- g + lamb mean(last `window` gradients, this one included).

    As the reference implementation (warmup=True), the gradient passes unchanged until the window
    is full. The buffer holds window x the parameters: mind memory for large models. The mean is a
    running sum (the new gradient in, the one leaving the window out), so a step reads one slot of the
    buffer rather than all of it; it equals the window's mean up to float rounding.
    """

    def init(params):
        buffer = jax.tree.map(lambda w: jnp.zeros((window, *w.shape), w.dtype), params)
        return GrokfastMaState(buffer, jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        del params
        slot = state.count % window
        total = jax.tree.map(lambda t, b, g: t - b[slot] + g, state.total, state.buffer, updates)
        buffer = jax.tree.map(lambda b, g: b.at[slot].set(g), state.buffer, updates)
        full = state.count + 1 >= window
        out = jax.tree.map(lambda g, t: jnp.where(full, g + lamb * (t / window), g), updates, total)
        return out, GrokfastMaState(buffer, total, state.count + 1)

    return optax.GradientTransformation(init, update)


def orthogonal_gradient(eps: float = 1e-30) -> optax.GradientTransformation:
    """⊥Grad: per parameter array, g <- (g - (w.g / w.w) w) * |g| / |g - (w.g / w.w) w|.

    The result is orthogonal to the weights (each leaf separately) and keeps the gradient's norm.
    Needs the params in `update`. Chain it before the optimizer (Prieto et al.'s ⊥AdamW).
    """

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("orthogonal_gradient needs the params: call update(grads, state, params)")

        def project(g, w):
            g32, w32 = g.astype(jnp.float32), w.astype(jnp.float32)
            along = jnp.vdot(w32, g32) / (jnp.vdot(w32, w32) + eps)
            g_perp = g32 - along * w32
            scale = jnp.linalg.norm(g32) / (jnp.linalg.norm(g_perp) + eps)
            return (g_perp * scale).astype(g.dtype)

        return jax.tree.map(project, updates, params), state

    return optax.GradientTransformation(init, update)


def add_l1_decay(weight_decay: Any) -> optax.GradientTransformation:
    """L1 weight decay as a gradient term: g <- g + weight_decay * sign(w) (the PAIR notebooks' l1_regularizer).

    The gradient of weight_decay * sum |w|, chained before the optimizer (so Adam rescales it, as in the
    PAIR explorable's sparse-parity run); weight_decay may be a traced per-model scalar.
    """

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("add_l1_decay needs the params")
        return jax.tree.map(lambda g, w: g + weight_decay * jnp.sign(w), updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
