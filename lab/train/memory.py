"""How much memory a model of a group needs, how much the devices have, how many models fit, and the CPU layout
of the work (models vmapped at once, rows per gradient block) that keeps it in cache.

The estimate comes from shapes alone (`jax.eval_shape`), before anything is allocated: the
state (params and optimizer moments, twice, since a chunk writes a new state while reading the
old one), the model's data, the gradients, and the activations of one full training batch and
of the test set (the forward pass kept for the backward pass, counted three times).
"""

from __future__ import annotations

import os
from functools import partial

import jax
import numpy as np

from lab import models
from lab.config import Spec
from lab.sweeps.hparams import hparams_of
from lab.train.sharding import ONE_THREAD_FLAG
from lab.train.step import init_state, make_data, precision_scope


def _nbytes(tree) -> int:
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


CPU_CACHE_BYTES = 4 << 20  # a CPU trains models in batches whose activations fit about this much
ROW_BLOCKS_ABOVE = 1 << 20  # on a one-thread CPU device, a model whose activations exceed this (about a core's L2)
ROW_BLOCK_BYTES = 384 << 10  # ... sums its gradient over blocks of rows with about this much each (measured)


def _one_model_shapes(spec: Spec, n_train_max: int):
    hp = jax.tree.map(lambda v: v[0], hparams_of(spec, [{}]))
    with precision_scope(spec):  # float64 specs: their real dtypes
        state = jax.eval_shape(partial(init_state, spec), hp)
        data = jax.eval_shape(partial(make_data, spec, n_train_max=n_train_max), hp)
    return state, data


def _activation_bytes(spec: Spec, params, x) -> int:
    """Bytes of the logits and kept activations of one forward pass (embeddings are gathered, not kept)."""
    with precision_scope(spec):
        logits, acts = jax.eval_shape(lambda p, xb: models.run_with_cache(p, xb, spec.model, spec.task),
                                      params, x)
    return _nbytes(logits) + _nbytes({k: v for k, v in acts.items() if "embed" not in k and not k.endswith("/z")})


def _train_batch(spec: Spec, data):
    x = data.x_train
    return x.update(shape=(spec.train.batch_size, *x.shape[1:])) if spec.train.batch_size else x


def bytes_per_model(spec: Spec, n_train_max: int, shared_data: bool = False) -> int:
    """Estimated peak bytes one model of this spec adds to a group (its data too, unless shared)."""
    state, data = _one_model_shapes(spec, n_train_max)
    activations = max(_activation_bytes(spec, state.params, x) for x in (_train_batch(spec, data), data.x_test))
    return 2 * _nbytes(state) + (0 if shared_data else _nbytes(data)) + _nbytes(state.params) + 3 * activations


def one_thread_cpu() -> bool:
    """Whether each device is one CPU thread (XLA's intra-op threads off, as `lab sweep --cpu-devices` sets)."""
    return jax.default_backend() == "cpu" and ONE_THREAD_FLAG in os.environ.get("XLA_FLAGS", "").split()


def auto_model_batch(spec: Spec, n_train_max: int, n_models: int) -> int:
    """How many models to vmap at once: all on an accelerator; on a CPU, as many as fit in cache, or one at a time
    on a device of one thread (where vmapped batches of the PAIR parity sweep's models were up to 1.4x slower per
    model than one model after another, measured)."""
    if spec.train.model_batch:
        return spec.train.model_batch
    if jax.default_backend() != "cpu":
        return n_models
    if one_thread_cpu():
        return 1
    state, data = _one_model_shapes(spec, n_train_max)
    per_model = max(1, _activation_bytes(spec, state.params, _train_batch(spec, data)))
    return int(max(1, min(n_models, CPU_CACHE_BYTES // per_model)))


def auto_row_block(spec: Spec, n_train_max: int) -> int:
    """Rows per block of a step's gradient (`lab.train.loss_and_grads`); 0 for the whole batch at once.

    train.row_block when set; else, on a CPU device of one thread, blocks of about ROW_BLOCK_BYTES of activations
    when one model's batch has more than ROW_BLOCKS_ABOVE (so that each block's activations stay in the core's
    cache: 1.1x to 1.4x on the width-128 and width-258 groups of the PAIR parity sweep), with as few padding rows as that many
    blocks allow. Blocks on a device of several threads were slower (each small op is split over the threads),
    and so were a transformer's (Nanda's model: 1.6x slower in blocks of 70 rows, no faster in blocks of 479),
    so there the batch stays whole.
    """
    if spec.train.row_block:
        return spec.train.row_block
    if not one_thread_cpu() or spec.model.kind != "mlp":
        return 0
    state, data = _one_model_shapes(spec, n_train_max)
    batch = _train_batch(spec, data)
    activations = _activation_bytes(spec, state.params, batch)
    if activations <= ROW_BLOCKS_ABOVE:
        return 0
    n_blocks = -(-activations // ROW_BLOCK_BYTES)
    return -(-batch.shape[0] // n_blocks)


def memory_budget() -> int:
    """Bytes the sweep may use: 80% of an accelerator's memory, or half of this machine's RAM."""
    device = jax.local_devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(0.8 * stats["bytes_limit"]) * jax.local_device_count()
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 8 << 30
    return ram // 2


def max_models(spec: Spec, n_train_max: int, n_devices: int, shared_data: bool = False, budget: int | None = None) -> int:
    """The most models of this spec that fit in the budget at once (a multiple of n_devices, >= 1 each)."""
    budget = memory_budget() if budget is None else budget
    per_model = max(1, bytes_per_model(spec, n_train_max, shared_data))
    fit = max(1, budget // per_model)
    return max(n_devices, fit // n_devices * n_devices)
