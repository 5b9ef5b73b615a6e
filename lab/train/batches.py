"""The training rows one step reads: the full set, i.i.d. rows, an epoch's slice of a permutation, or fresh samples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lab import tasks
from lab.config import Spec
from lab.train.keys import data_key, epoch_key, step_key


def epoch_rows(perm_of_epoch, n_real: jax.Array, n_rows: int, batch: int, step: jax.Array):
    """Row indices [B] and weights [B] of a step's minibatch when each epoch reads the n_real real rows in an order.

    An epoch is ceil(n_real / batch) steps; step s reads slot s mod that of perm_of_epoch(s // that), a
    permutation [n_rows] with the real rows first, so every real row is read once per epoch and the last
    minibatch of an epoch is smaller (its padding rows have weight 0), as `torch.split` of a shuffled tensor.
    """
    per_epoch = (n_real + batch - 1) // batch
    epoch, slot = step // per_epoch, step % per_epoch
    perm_N = perm_of_epoch(epoch)
    pos_B = slot * batch + jnp.arange(batch)
    return perm_N[jnp.minimum(pos_B, n_rows - 1)], (pos_B < n_real).astype(jnp.float32)


def shuffled(key: jax.Array, n_real: jax.Array, n_rows: int) -> jax.Array:
    """A permutation [n_rows] of the n_real real rows drawn with key, the padding rows after them."""
    row_N = jnp.arange(n_rows)
    return jnp.argsort(jnp.where(row_N < n_real, jax.random.uniform(key, (n_rows,)), 2.0))  # padding sorts last


def _file_orders(name: str, n_rows: int) -> jax.Array:
    """train.batches_from's epoch orders [E, n_rows], the padding rows (past the file's training rows) last."""
    order_ExT = tasks.epoch_orders(name)
    n_epochs, n_train = order_ExT.shape
    pad_ExP = np.broadcast_to(np.arange(n_train, n_rows, dtype=np.int32), (n_epochs, n_rows - n_train))
    return jnp.asarray(np.concatenate([order_ExT, pad_ExP], axis=1))


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
        n_rows = data.w_train.shape[0]
        if cfg.batches_from:  # a peer's orders (their count and width checked by sweeps.grid.expand)
            order_ExN = _file_orders(cfg.batches_from, n_rows)
            perm_of_epoch = lambda e: order_ExN[e]  # noqa: E731
        else:
            perm_of_epoch = lambda e: shuffled(epoch_key(seed, e), n_real, n_rows)  # noqa: E731
        idx_B, w_B = epoch_rows(perm_of_epoch, n_real, n_rows, cfg.batch_size, step)
    else:
        idx_B, w_B = jax.random.randint(step_key(seed, step), (cfg.batch_size,), 0, n_real), ones_B
    return data.x_train[idx_B], data.y_train[idx_B], w_B
