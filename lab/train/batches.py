"""The training rows one step reads: the full set, i.i.d. rows, an epoch's slice of a permutation, or fresh samples."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lab import tasks
from lab.config import Spec
from lab.train.keys import data_key, epoch_key, step_key


def epoch_rows(key_of_epoch, n_real: jax.Array, n_rows: int, batch: int, step: jax.Array):
    """Row indices [B] and weights [B] of a step's minibatch when each epoch shuffles the n_real real rows.

    An epoch is ceil(n_real / batch) steps; step s reads slot s mod that of the permutation drawn with
    key_of_epoch(s // that), so every real row is read once per epoch and the last minibatch of an
    epoch is smaller (its padding rows have weight 0), as `torch.split` of a shuffled tensor.
    """
    per_epoch = (n_real + batch - 1) // batch
    epoch, slot = step // per_epoch, step % per_epoch
    row_N = jnp.arange(n_rows)
    u_N = jnp.where(row_N < n_real, jax.random.uniform(key_of_epoch(epoch), (n_rows,)), 2.0)  # padding sorts last
    perm_N = jnp.argsort(u_N)
    pos_B = slot * batch + jnp.arange(batch)
    return perm_N[jnp.minimum(pos_B, n_rows - 1)], (pos_B < n_real).astype(jnp.float32)


def train_batch(spec: Spec, data: tasks.Data, seed: jax.Array, data_seed: jax.Array, step: jax.Array):
    """(x, y_B, w_B) of one training step of one model: see train.batch_size, train.sampling, task.fresh_samples."""
    cfg = spec.train
    if not cfg.batch_size:
        return data.x_train, data.y_train, data.w_train
    ones_B = jnp.ones((cfg.batch_size,), jnp.float32)
    if spec.task.fresh_samples:
        x, y_B = tasks.fresh_batch(spec.task, data_key(data_seed), step_key(seed, step), cfg.batch_size)
        return x, y_B, ones_B
    n_real = jnp.sum(data.w_train).astype(jnp.int32)
    if cfg.sampling == "epochs":
        idx_B, w_B = epoch_rows(lambda e: epoch_key(seed, e), n_real, data.w_train.shape[0], cfg.batch_size, step)
    else:
        idx_B, w_B = jax.random.randint(step_key(seed, step), (cfg.batch_size,), 0, n_real), ones_B
    return data.x_train[idx_B], data.y_train[idx_B], w_B
