"""Per-example losses (softmax or StableMax cross-entropy, a single logit's sigmoid cross-entropy, MSE)
in float32 or float64, optionally with the probability clipped as Keras does, the softmax collapse
metric, and weighted means over a batch with padding weights.

Logits with one column are a binary logit z: p(class 1) = sigmoid(z), accuracy is (z > 0) == y.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


def stablemax_s(x: jax.Array) -> jax.Array:
    """StableMax's s(x) (Prieto et al. 2025): x + 1 for x >= 0, 1 / (1 - x) below; positive, increasing."""
    return jnp.where(x >= 0, x + 1.0, 1.0 / (1.0 - jnp.minimum(x, 0.0)))


def log_stablemax(logits_BxC: jax.Array) -> jax.Array:
    """log(s(x_i) / sum_j s(x_j)): a probability distribution that grows linearly, not exponentially."""
    s_BxC = stablemax_s(logits_BxC)
    return jnp.log(s_BxC) - jnp.log(jnp.sum(s_BxC, axis=-1, keepdims=True))


def log_probs(logits_BxC: jax.Array, kind: str) -> jax.Array:
    """Log-probabilities of the classes under the loss's normalization (StableMax or softmax)."""
    return log_stablemax(logits_BxC) if kind == "stablemax" else jax.nn.log_softmax(logits_BxC, axis=-1)


def _exact_nll(logits_BxC: jax.Array, y_B: jax.Array, kind: str) -> jax.Array:
    """-log p(y) as log1p(sum_{j != y} p_j / p_y): no 1 + tiny is ever rounded, so no collapse."""
    target_Bx1 = jnp.take_along_axis(logits_BxC, y_B[:, None], axis=-1)
    other_BxC = jax.nn.one_hot(y_B, logits_BxC.shape[-1], dtype=bool) == 0
    if kind == "stablemax":
        s_BxC = stablemax_s(logits_BxC)
        ratio_B = jnp.sum(jnp.where(other_BxC, s_BxC, 0.0), axis=-1) / stablemax_s(target_Bx1)[:, 0]
        return jnp.log1p(ratio_B)
    gap_B = jax.nn.logsumexp(jnp.where(other_BxC, logits_BxC - target_Bx1, -jnp.inf), axis=-1)
    return jnp.logaddexp(gap_B, 0.0)  # log(1 + exp(gap)), accurate for very negative gaps


def _softmax_nll(logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    """-log softmax(logits)[y] with log_softmax's roundings, (max - z_y) + log(sum exp(z - max)), in an order XLA:CPU
    fuses: the correct logit is picked by a masked sum of z (no gather, whose gradient is a scatter) and z - max is
    never stored (1.13x on the bench's PAIR MLPs, measured)."""
    max_Bx1 = jax.lax.stop_gradient(jnp.max(logits_BxC, axis=-1, keepdims=True))
    return (max_Bx1[:, 0] - _label_logit(logits_BxC, y_B)) + jnp.log(jnp.sum(jnp.exp(logits_BxC - max_Bx1), axis=-1))


def _column_minus_label(logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    """Each column's index minus its row's label, [B, C]: 0 at the label, negative before it."""
    return jnp.arange(logits_BxC.shape[-1])[None, :] - y_B[:, None]


def _label_logit(logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    """Each row's logit at its label, [B], as a masked sum (no gather, whose gradient is a scatter)."""
    return jnp.sum(jnp.where(_column_minus_label(logits_BxC, y_B) == 0, logits_BxC, 0.0), axis=-1)


def _margin(logits_Bx1: jax.Array, y_B: jax.Array) -> jax.Array:
    """A binary logit signed toward the label: z for class 1, -z for class 0, [B]."""
    return jnp.where(y_B == 1, logits_Bx1[:, 0], -logits_Bx1[:, 0])


def _clipped_nll(p_y_B: jax.Array, clip: float) -> jax.Array:
    """-log of the correct class's probability clipped to [clip, 1 - clip] (no gradient where it is clipped)."""
    return -jnp.log(jnp.clip(p_y_B, clip, 1.0 - clip))


def _per_example(logits_BxC: jax.Array, y_B: jax.Array, kind: str, exact: bool = False, clip: float = 0.0) -> jax.Array:
    n_classes = logits_BxC.shape[-1]
    if kind == "mse":
        return jnp.mean(jnp.square(logits_BxC - jax.nn.one_hot(y_B, n_classes, dtype=logits_BxC.dtype)), axis=-1)
    if n_classes == 1:  # a binary logit: -log sigmoid(margin), stable for any margin unless clipped
        margin_B = _margin(logits_BxC, y_B)
        return _clipped_nll(jax.nn.sigmoid(margin_B), clip) if clip else jax.nn.softplus(-margin_B)
    if exact:
        nll_B = _exact_nll(logits_BxC, y_B, kind)
    elif kind != "stablemax" and not clip:
        nll_B = _softmax_nll(logits_BxC, y_B)
    else:
        log_p_B = jnp.take_along_axis(log_probs(logits_BxC, kind), y_B[:, None], axis=-1)[:, 0]
        nll_B = _clipped_nll(jnp.exp(log_p_B), clip) if clip else -log_p_B
    return nll_B / n_classes if kind == "cross_entropy_class_mean" else nll_B


def per_example_loss(logits_BxC: jax.Array, y_B: jax.Array, kind: str, precision: str = "float32",
                     clip: float = 0.0) -> jax.Array:
    """Loss of each example, [B] (the logits' float dtype).

    kind: cross_entropy: -log softmax(logits)[y]; cross_entropy_class_mean: the same divided by
    the number of classes (the PAIR explorable's convention); stablemax: -log StableMax(logits)[y]
    (Prieto et al. 2025); mse: mean over classes of (logits - one_hot(y))^2.
    precision: "float32" computes log-probabilities the usual way, so once the correct logit leads
    the others by more than ~17 the loss rounds to exactly 0 and its gradient vanishes (softmax
    collapse); "float64" does the same in float64 (as Prieto et al.; collapse moves to a lead of
    ~37); "exact" computes log1p(sum_{j != y} p_j / p_y) in float32, which stays accurate for
    any lead (until exp underflows, past ~87). A binary logit (one column) is always computed stably.
    clip (> 0): the correct class's probability is clipped to [clip, 1 - clip] before the log, as Keras's
    binary_crossentropy does with its epsilon 1e-7: the loss then never falls below -log(1 - clip)
    (2^-23 in float32 for 1e-7) and its gradient is 0 for every example past the clip.
    """
    if precision == "float64":
        return _float64_loss(kind, clip, logits_BxC, y_B)
    return _per_example(logits_BxC, y_B, kind, exact=precision == "exact", clip=clip)


def _in_float64(kind: str, clip: float, logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    with jax.enable_x64(True):
        return _per_example(logits_BxC.astype(jnp.float64), y_B, kind, clip=clip).astype(logits_BxC.dtype)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _float64_loss(kind: str, clip: float, logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    """The loss computed in float64; its gradient too (a custom VJP: JAX would build it in float32)."""
    return _in_float64(kind, clip, logits_BxC, y_B)


def _float64_fwd(kind, clip, logits_BxC, y_B):
    return _in_float64(kind, clip, logits_BxC, y_B), (logits_BxC, y_B)


def _float64_bwd(kind, clip, residuals, g_B):
    logits_BxC, y_B = residuals
    with jax.enable_x64(True):
        _, vjp = jax.vjp(lambda z: _per_example(z, y_B, kind, clip=clip), logits_BxC.astype(jnp.float64))
        (g_BxC,) = vjp(g_B.astype(jnp.float64))
    return g_BxC.astype(logits_BxC.dtype), None


_float64_loss.defvjp(_float64_fwd, _float64_bwd)


def collapsed(logits_BxC: jax.Array, y_B: jax.Array, kind: str, clip: float = 0.0) -> jax.Array:
    """1.0 where the example's gradient vanishes, per example, [B]: its float32 loss is exactly 0 (softmax
    collapse) or, with clip, its correct-class probability is past 1 - clip.

    Measured with the run's normalization (StableMax for the stablemax loss, else softmax or sigmoid).
    """
    logits_BxC = logits_BxC.astype(jnp.float32)
    if clip:
        if logits_BxC.shape[-1] == 1:
            p_y_B = jax.nn.sigmoid(_margin(logits_BxC, y_B))
        else:
            p_y_B = jnp.exp(jnp.take_along_axis(log_probs(logits_BxC, kind), y_B[:, None], axis=-1)[:, 0])
        return (p_y_B >= jnp.float32(1.0 - clip)).astype(jnp.float32)
    return (_per_example(logits_BxC, y_B, "stablemax" if kind == "stablemax" else "cross_entropy") == 0
            ).astype(jnp.float32)


def weighted_mean(v_B: jax.Array, w_B: jax.Array) -> jax.Array:
    """Mean of v over the examples with weight > 0 (nan-safe when every weight is 0)."""
    return jnp.sum(v_B * w_B) / jnp.maximum(jnp.sum(w_B), 1.0)


def predictions(logits_BxC: jax.Array) -> jax.Array:
    """The predicted class per example, [B] int: the argmax, or (z > 0) for a binary logit."""
    if logits_BxC.shape[-1] == 1:
        return (logits_BxC[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(logits_BxC, axis=-1)


def accuracy(logits_BxC: jax.Array, y_B: jax.Array) -> jax.Array:
    """1.0 where the predicted class is the label, per example, [B].

    The label's logit is the row's maximum and no earlier column reaches it (argmax's first-maximum rule), which
    XLA:CPU computes 1.6x faster than argmax's index reduction (measured on [2278, 67]). A row with a NaN counts as
    wrong."""
    if logits_BxC.shape[-1] == 1:
        return (predictions(logits_BxC) == y_B).astype(jnp.float32)
    max_Bx1 = jnp.max(logits_BxC, axis=-1, keepdims=True)
    target_B = _label_logit(logits_BxC, y_B)
    earlier_B = jnp.any((logits_BxC == max_Bx1) & (_column_minus_label(logits_BxC, y_B) < 0), axis=-1)
    return ((target_B == max_Bx1[:, 0]) & ~earlier_B).astype(jnp.float32)
