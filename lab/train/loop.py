"""The compiled programs of a group: vmapped init, data and a scanned chunk of vmapped steps.

Python only runs between chunks: `run_chunks` dispatches the next chunk before it reads the
metrics of the last one, so logging overlaps the computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from lab.config import Spec
from lab.train import sharding
from lab.train.step import HParams, TrainState, evaluate, init_state, make_data, train_step


@dataclass(frozen=True)
class Programs:
    """Jitted functions over the model axis M of one group (one static spec)."""

    init: Callable  # hp_M -> state_M
    data: Callable  # hp_M -> data_M
    chunk: Callable  # (state_M, data_M, hp_M[, live_M]) -> (state_M, metrics_M); state_M is donated
    evaluate: Callable  # (params_M, data_M) -> metrics_M


JAX_PRECISION = {"float32": "highest", "tf32": "tensorfloat32", "bf16": "bfloat16"}


def chunk_of_steps(spec: Spec, state_M: TrainState, data_M, hp_M: HParams, live_M: jax.Array | None = None,
                   shared_data: bool = False, model_batch: int = 0, row_block: int = 0):
    """train.log_every steps of every model, then every model's metrics.

    Written for one model (a lax.scan over steps, then an evaluation), vmapped over the model
    axis. With model_batch, models go through in vmapped batches of that size one after another (a loop that
    writes each batch's new states over its old ones, the remainder as one smaller batch): each batch's working set
    stays in cache for the whole chunk, which is faster on a CPU; a model's numbers depend only on the size of the
    batch it is in. With model_batch 1, models go one at a time, not vmapped, and a model whose live_M entry is
    False (a retired model, a padding row) is skipped: its state comes back as it was and its metrics as zeros.
    With shared_data, data_M is one dataset used by every model (not stacked). row_block: each step's gradient is
    summed over blocks of that many rows (see `train_step`).
    """

    def one_model(state, data, hp):
        def body(s, _):
            return train_step(spec, s, data, hp, row_block)

        state, loss_T = jax.lax.scan(body, state, None, length=spec.train.log_every)
        metrics = evaluate(spec, state.params, data)
        metrics["nonfinite"] = jnp.any(~jnp.isfinite(loss_T))
        return state, metrics

    def per_model(args):
        state, data, hp = args
        return one_model(state, data_M if shared_data else data, hp)

    def unless_frozen(args):
        *xs, live = args
        metrics = jax.eval_shape(per_model, xs)[1]
        frozen = lambda xs: (xs[0], jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics))  # noqa: E731
        return jax.lax.cond(live, per_model, frozen, xs)

    xs = (state_M, None if shared_data else data_M, hp_M)
    with jax.default_matmul_precision(JAX_PRECISION[spec.train.matmul_precision]):
        if not model_batch:
            return jax.vmap(per_model)(xs)
        if model_batch == 1:  # a loop over models: lax.cond skips the frozen ones (under vmap it would not)
            live_M = jnp.ones(hp_M.seed.shape, bool) if live_M is None else live_M
            return _in_place_map(unless_frozen, (*xs, live_M))
        return _in_place_map(per_model, xs, model_batch)


def _in_place_map(f: Callable, xs, batch: int = 1):
    """lax.map(f, xs, batch_size=batch), f vmapped over each batch unless batch is 1, for an f that returns (state,
    metrics) with xs[0] the state: each batch's new states are written over its old ones in the stacked state (a
    loop carry, the chunk's donated input), not into a fresh stack; the models past the last whole batch go as one
    smaller vmap."""
    state_M = xs[0]
    n_models = state_M.step.shape[0]
    batch = min(batch, n_models)
    if batch == 1:  # f on one model, its outputs given back their model axis
        f_batch = lambda x: jax.tree.map(lambda a: a[None], f(jax.tree.map(lambda a: a[0], x)))  # noqa: E731
    else:
        f_batch = jax.vmap(f)
    metrics_shapes = jax.eval_shape(f, jax.tree.map(lambda a: a[0], xs))[1]
    metrics_M = jax.tree.map(lambda m: jnp.zeros((n_models,) + m.shape, m.dtype), metrics_shapes)

    def one(i, carry):
        state_M, metrics_M = carry
        state, metrics = f_batch(jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, i * batch, batch),
                                              (state_M, *xs[1:])))
        put = lambda stack, x: jax.lax.dynamic_update_slice_in_dim(stack, x, i * batch, 0)  # noqa: E731
        return jax.tree.map(put, state_M, state), jax.tree.map(put, metrics_M, metrics)

    n_whole = n_models // batch
    state_M, metrics_M = jax.lax.fori_loop(0, n_whole, one, (state_M, metrics_M))
    if n_whole * batch == n_models:
        return state_M, metrics_M
    rest = n_whole * batch
    state, metrics = jax.vmap(f)(jax.tree.map(lambda a: a[rest:], (state_M, *xs[1:])))
    return (jax.tree.map(lambda a, b: a.at[rest:].set(b), state_M, state),
            jax.tree.map(lambda a, b: a.at[rest:].set(b), metrics_M, metrics))


@lru_cache(maxsize=16)
def build_programs(
    spec: Spec, n_train_max: int, shared_data: bool = False, model_batch: int = 0, mesh: Mesh | None = None,
    row_block: int = 0,
) -> Programs:
    """Compile-once programs for a group; shapes come from spec and n_train_max (cached per spec).

    With shared_data, `data` takes one model's hyperparameters (scalars) and builds one dataset;
    model_batch, row_block: see `chunk_of_steps`. With a mesh of several devices, the chunk runs on each
    device's own models (shard_map), so batching over models never crosses devices.
    """
    one_data = partial(make_data, spec, n_train_max=n_train_max)
    data_axis = None if shared_data else 0
    chunk = partial(chunk_of_steps, spec, shared_data=shared_data, model_batch=model_batch, row_block=row_block)
    if mesh is not None and mesh.size > 1:
        models, data_spec = PartitionSpec(sharding.AXIS), PartitionSpec() if shared_data else PartitionSpec(sharding.AXIS)
        chunk = jax.shard_map(chunk, mesh=mesh, in_specs=(models, data_spec, models, models),
                              out_specs=(models, models), check_vma=False)

    def chunk_of_live(state_M, data_M, hp_M, live_M=None):
        """The chunk; every model live unless live_M says otherwise."""
        return chunk(state_M, data_M, hp_M, jnp.ones(hp_M.seed.shape, bool) if live_M is None else live_M)

    return Programs(
        init=jax.jit(jax.vmap(partial(init_state, spec))),
        data=jax.jit(one_data if shared_data else jax.vmap(one_data)),
        chunk=jax.jit(chunk_of_live, donate_argnums=0),
        evaluate=jax.jit(jax.vmap(partial(evaluate, spec), in_axes=(0, data_axis))),
    )


def run_chunks(
    programs: Programs, state_M: TrainState, data_M, hp_M: HParams, start: int, stop: int, every: int, sync_at=(),
    fetch: Callable = jax.device_get, want_state: Callable[[int], bool] | None = None, live_M: jax.Array | None = None,
) -> Iterator[tuple[int, dict[str, np.ndarray], TrainState | None]]:
    """Train from step start to stop; yield (step, fetch(metrics), state or None) after each chunk.

    The state is yielded (and the pipeline drained) only at steps in sync_at, at stop, and where
    want_state(step) says so (asked once per chunk: a rolling resume checkpoint, a SIGTERM), since a
    later chunk consumes (donates) it. live_M: see `chunk_of_steps`.
    """
    pending = None
    for begin in range(start, stop, every):
        state_M, metrics_M = programs.chunk(state_M, data_M, hp_M, live_M)
        end = begin + every
        if pending is not None:
            yield pending[0], fetch(pending[1]), None
            pending = None
        if end in sync_at or end == stop or (want_state is not None and want_state(end)):
            yield end, fetch(metrics_M), state_M
        else:
            pending = (end, metrics_M)
