"""Every key of the lab comes from one root key: folded in per model, per data seed, per step and per epoch."""

from __future__ import annotations

import jax

_ROOT = 0  # every key of the lab comes from jax.random.key(_ROOT)


def model_key(seed: jax.Array) -> jax.Array:
    """The key of a model seed: root -> fold_in('models') -> fold_in(seed)."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(_ROOT), 0), seed)


def data_key(data_seed: jax.Array) -> jax.Array:
    """The key of a data seed: root -> fold_in('data') -> fold_in(data_seed)."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(_ROOT), 1), data_seed)


def step_key(seed: jax.Array, step: jax.Array) -> jax.Array:
    """The key of one training step of one model (minibatch sampling)."""
    return jax.random.fold_in(jax.random.fold_in(model_key(seed), 1), step)


def epoch_key(seed: jax.Array, epoch: jax.Array) -> jax.Array:
    """The key of one epoch's permutation of the training set of one model (train.sampling = "epochs")."""
    return jax.random.fold_in(jax.random.fold_in(model_key(seed), 2), epoch)
