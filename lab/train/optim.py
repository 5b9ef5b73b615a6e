"""Optimizers from optax with per-model learning rate, weight decay and Grokfast alpha / lambda.

These numbers live in the optimizer state (`optax.inject_hyperparams`), so they can differ
between the models stacked on the model axis. The gradient goes through the Grokfast filter
(train.grad_filter), then the orthogonal projection (train.orthogonal_grad), then the optimizer.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax

from lab.config import TrainConfig
from lab.train.grad_transforms import add_l1_decay, grokfast_ema, grokfast_ma, orthogonal_gradient


def _warmup(lr: Any, warmup_steps: int, from_zero: bool = False):
    """Linear warmup over warmup_steps updates, then constant: update n (from 0) has lr * min((n + 1) / warmup, 1),
    or with from_zero lr * min(n / warmup, 1), whose first update has lr 0 (torch's LambdaLR(min(step / 10, 1))
    stepped after the optimizer, as Nanda et al. and Power et al. warm up)."""
    if warmup_steps == 0:
        return lr
    shift = 0 if from_zero else 1
    return lambda count: lr * jnp.minimum(1.0, (count + shift) / warmup_steps)


def _gradient_pieces(cfg: TrainConfig, alpha: Any, lamb: Any) -> list[optax.GradientTransformation]:
    """The transformations applied to the loss gradient before the optimizer sees it."""
    pieces = []
    if cfg.grad_filter == "grokfast_ema":
        pieces.append(grokfast_ema(alpha, lamb))
    elif cfg.grad_filter == "grokfast_ma":
        pieces.append(grokfast_ma(cfg.grokfast_window, lamb))
    if cfg.orthogonal_grad:
        pieces.append(orthogonal_gradient())
    return pieces


SUBNORMAL_SCALE = 2.0**16  # the gradient's scale inside Adam with train.keep_subnormal_moments


def adam_moments(cfg: TrainConfig) -> list[optax.GradientTransformation]:
    """Adam's scaling by its moments (optax.scale_by_adam). With train.keep_subnormal_moments it reads the
    gradient and eps times 2^16, so mu is held 2^16 and nu 2^32 times larger and the update is the same (to
    float32 rounding: scaling by powers of two is exact, but XLA may order the scaled products differently),
    and it keeps the moments that XLA's CPU would flush (float32 under 1.2e-38) where torch keeps them as
    subnormals (with Prieto et al.'s eps 1e-25, a flushed nu divides by eps alone and the weights blow up)."""
    if not cfg.keep_subnormal_moments:
        return [optax.scale_by_adam(b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)]
    return [optax.scale(SUBNORMAL_SCALE), optax.scale_by_adam(b1=cfg.b1, b2=cfg.b2, eps=cfg.eps * SUBNORMAL_SCALE)]


def make_optimizer(cfg: TrainConfig, lr: Any = None, weight_decay: Any = None, grokfast_alpha: Any = None,
                   grokfast_lambda: Any = None) -> optax.GradientTransformation:
    """AdamW (decoupled decay), Adam or SGD with momentum (both with the decay added to the gradient: L2,
    wd * w, or with train.decay = "l1", wd * sign(w)), after the Grokfast filter and the orthogonal
    projection when the config asks for them.

    The numbers may be traced per-model scalars; they default to the config's values.
    """
    numbers = {"learning_rate": cfg.lr if lr is None else lr,
               "weight_decay": cfg.weight_decay if weight_decay is None else weight_decay}
    if cfg.grad_filter != "none":
        numbers["grokfast_alpha"] = cfg.grokfast_alpha if grokfast_alpha is None else grokfast_alpha
        numbers["grokfast_lambda"] = cfg.grokfast_lambda if grokfast_lambda is None else grokfast_lambda

    def factory(learning_rate, weight_decay, grokfast_alpha=None, grokfast_lambda=None):
        schedule = _warmup(learning_rate, cfg.warmup_steps, cfg.warmup_from_zero)
        pieces = _gradient_pieces(cfg, grokfast_alpha, grokfast_lambda)
        decay = add_l1_decay(weight_decay) if cfg.decay == "l1" else optax.add_decayed_weights(weight_decay)
        if cfg.optimizer == "adamw":  # optax.adamw's chain, so that its state keeps optax.adamw's layout
            base = [optax.chain(*adam_moments(cfg), optax.add_decayed_weights(weight_decay),
                                optax.scale_by_learning_rate(schedule))]
        elif cfg.optimizer == "adam":
            base = [decay, optax.chain(*adam_moments(cfg), optax.scale_by_learning_rate(schedule))]
        else:
            base = [decay, optax.sgd(schedule, momentum=cfg.momentum)]
        parts = [*pieces, *base]
        return parts[0] if len(parts) == 1 else optax.chain(*parts)  # plain AdamW keeps its state layout

    return optax.inject_hyperparams(factory)(**numbers)
