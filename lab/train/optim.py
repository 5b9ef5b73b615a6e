"""Optimizers from optax with per-model learning rate and weight decay.

The learning rate and weight decay live in the optimizer state (`optax.inject_hyperparams`),
so they can differ between the models stacked on the model axis.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax

from lab.config import TrainConfig


def _warmup(lr: Any, warmup_steps: int):
    """Linear warmup from lr / warmup_steps to lr over warmup_steps updates, then constant."""
    if warmup_steps == 0:
        return lr
    return lambda count: lr * jnp.minimum(1.0, (count + 1) / warmup_steps)


def make_optimizer(cfg: TrainConfig, lr: Any = None, weight_decay: Any = None) -> optax.GradientTransformation:
    """AdamW (decoupled decay), Adam or SGD with momentum (both with L2 decay added to the gradient).

    lr and weight_decay may be traced per-model scalars; they default to the config's values.
    """
    lr = cfg.lr if lr is None else lr
    weight_decay = cfg.weight_decay if weight_decay is None else weight_decay

    def factory(learning_rate, weight_decay):
        schedule = _warmup(learning_rate, cfg.warmup_steps)
        if cfg.optimizer == "adamw":
            return optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=weight_decay)
        if cfg.optimizer == "adam":
            base = optax.adam(schedule, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
        else:
            base = optax.sgd(schedule, momentum=cfg.momentum)
        return optax.chain(optax.add_decayed_weights(weight_decay), base)

    return optax.inject_hyperparams(factory)(learning_rate=lr, weight_decay=weight_decay)
