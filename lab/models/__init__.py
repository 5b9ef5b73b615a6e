"""Pure functions over plain parameter pytrees: `init(key, cfg, task) -> params`,
`apply(params, x, cfg, task, hooks=None) -> logits` and `run_with_cache(...) -> (logits, cache)`.

Flax stays inside `lab.models.linen`; callers see nested dicts of arrays with readable
names (`W_E`, `block_0_attn/W_Q`, `W_U`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from lab import references
from lab.config import ModelConfig, SpecError, TaskConfig
from lab.models.linen import MLP, Transformer, fixed_table
from lab.models.sites import (KINDS, Cache, Hook, Replace, check_hooks, mean_ablate, n_layers, patch, site_name,
                              sites, zero_ablate)

__all__ = ["Cache", "Hook", "Params", "Replace", "apply", "apply_answers", "as_tokens", "check_hooks", "fixed_embedding",
           "init", "initial_from_file", "mean_ablate", "n_layers", "n_outputs", "param_count", "patch", "run_with_cache",
           "site_name", "sites", "zero_ablate"]

Params = dict[str, Any]


def as_tokens(cfg: ModelConfig) -> bool:
    """Whether the model reads modular inputs as token sequences [a, b, =] (transformers)."""
    return cfg.kind == "transformer"


def _module(cfg: ModelConfig, task: TaskConfig):
    """The Linen module for this model and task."""
    if cfg.kind == "transformer":
        return Transformer(cfg, n_vocab=task.n_vocab, n_ctx=task.n_ctx, n_classes=n_outputs(cfg, task),
                           n_answers=task.n_answers)
    n_vocab = task.p if task.is_table else 0
    n_one_hot = task.n_tasks if task.name == "multitask_parity" else 0  # its inputs lead with the one-hot task id
    return MLP(cfg, n_vocab=n_vocab, n_classes=n_outputs(cfg, task), n_one_hot=n_one_hot)


def n_outputs(cfg: ModelConfig, task: TaskConfig) -> int:
    """Output columns of the model: the task's classes, 1 with model.single_logit (a binary logit), or every
    token with model.readout = "vocab" (a transformer whose labels are token ids: the numbers are 0..p-1)."""
    if cfg.single_logit:
        return 1
    return task.n_vocab if cfg.kind == "transformer" and cfg.readout == "vocab" else task.n_classes


def fixed_embedding(cfg: ModelConfig, task: TaskConfig) -> jax.Array | None:
    """An MLP's fixed operand embedding [p, E] (onehot or a circle), or None when it is learned."""
    return fixed_table(cfg.embedding, task.p) if cfg.kind == "mlp" else None


def _example_input(cfg: ModelConfig, task: TaskConfig) -> jax.Array:
    """A one-example batch with the right shape and dtype, for init."""
    if task.is_table:
        return jnp.zeros((1, task.n_ctx if as_tokens(cfg) else 2), jnp.int32)
    width = task.n_bits + (0 if task.name == "parity" else task.n_tasks)  # skill prefix for the multi-skill tasks
    return jnp.zeros((1, width), jnp.float32)


def init(key: jax.Array, cfg: ModelConfig, task: TaskConfig, init_scale: Any = None) -> Params:
    """Fresh parameters for one model, every array multiplied by init_scale (default cfg.init_scale).

    With model.init_from the arrays are that file's (`initial_from_file`), the same for every key.
    init_scale may be a traced scalar, so that it can differ per model under vmap.
    """
    def draw(k):
        return _module(cfg, task).init(k, _example_input(cfg, task))["params"]

    params = initial_from_file(cfg.init_from, jax.eval_shape(draw, key)) if cfg.init_from else draw(key)
    names = {str(path[-1].key) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
    unknown = sorted(set(dict(cfg.init_overrides)) - names)
    if unknown:
        raise SpecError(f"model.init_overrides names {unknown[0]!r}, which this model does not have; its parameters: "
                        f"{', '.join(sorted(names))}")
    scale = cfg.init_scale if init_scale is None else init_scale
    return jax.tree.map(lambda w: w * scale, params)


def initial_from_file(name: str, drawn: Params) -> Params:
    """model.init_from's arrays in the layout of drawn (a model's parameter tree, or its shapes and dtypes), keyed by
    path ("block_0_attn/W_Q").

    Raises SpecError naming the first parameter the file lacks, has in another shape, or has and the model does not.
    """
    arrays = references.arrays(name, "model.init_from")
    leaves = jax.tree_util.tree_flatten_with_path(drawn)[0]
    paths = ["/".join(str(k.key) for k in path) for path, _ in leaves]
    field = f"model.init_from = {name!r}"
    for path, (_, w) in zip(paths, leaves):
        if path not in arrays:
            raise SpecError(f"{field} has no {path}; the model's parameters: {', '.join(paths)}")
        if arrays[path].shape != w.shape:
            raise SpecError(f"{field} has {path} of shape {list(arrays[path].shape)}; the model's is {list(w.shape)}")
    extra = sorted(set(arrays) - set(paths) - set(references.SPLIT_KEYS))
    if extra:
        raise SpecError(f"{field} has {extra[0]}, which this model does not have; its parameters: {', '.join(paths)}")
    values = [jnp.asarray(arrays[path], w.dtype) for path, (_, w) in zip(paths, leaves)]
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(drawn), values)


def apply(params: Params, x: jax.Array, cfg: ModelConfig, task: TaskConfig, hooks: Mapping[str, Hook] | None = None
          ) -> jax.Array:
    """Logits [B, n_classes] of one model on a batch of inputs x [B, ...].

    hooks (optional, for analyses): {site name: hook}, a `Replace(mask, value)` or a function of the
    activation, applied where the forward pass computes that site; see `lab.models.sites`.
    """
    check_hooks(hooks, cfg, task)
    return _first_answer(_module(cfg, task).apply({"params": params}, x, hooks))


def apply_answers(params: Params, x: jax.Array, cfg: ModelConfig, task: TaskConfig) -> jax.Array:
    """Logits [B, A, C] at every position the loss reads (A = task.n_answers: the answer, then <eos> for
    task.sequence = "eos_a_op_b_eq_c"); an MLP's [B, 1, C]."""
    logits = _module(cfg, task).apply({"params": params}, x)
    return logits if logits.ndim == 3 else logits[:, None]


def _first_answer(logits: jax.Array) -> jax.Array:
    """The answer's logits [B, C]: a transformer's first readout position."""
    return logits[:, 0] if logits.ndim == 3 else logits


def _expand(names: Sequence[str], cfg: ModelConfig, task: TaskConfig) -> set[str]:
    """Site names, with each kind alone standing for that kind in every layer."""
    every, out = sites(cfg, task), set()
    for name in names:
        if name in every:
            out.add(name)
        elif name in KINDS:
            out |= {s for s in every if s.startswith("embed")} if name == "embed" else {
                site_name(cfg, name, layer) for layer in range(n_layers(cfg))}
        else:
            raise SpecError(f"no site {name!r} in this model; its sites: {', '.join(every)}")
    return out


def run_with_cache(params: Params, x: jax.Array, cfg: ModelConfig, task: TaskConfig, *,
                   names: Sequence[str] | None = None, hooks: Mapping[str, Hook] | None = None
                   ) -> tuple[jax.Array, Cache]:
    """Logits [B, n_classes] and the activation `Cache` of one model on a batch x (after any hooks).

    names: the sites to keep (default: every one, `sites(cfg, task)`); kinds alone (`"mlp_post"`) keep
    that kind in every layer. Under jit, sites not kept cost nothing.
    """
    check_hooks(hooks, cfg, task)
    logits, state = _module(cfg, task).apply({"params": params}, x, hooks, mutable=["intermediates"])
    flat = jax.tree_util.tree_flatten_with_path(state["intermediates"], is_leaf=lambda v: isinstance(v, tuple))[0]
    acts = {"/".join(str(k.key) for k in path): leaf[0] for path, leaf in flat}
    keep = set(acts) if names is None else _expand(names, cfg, task)
    acts = {n: acts[n] for n in sites(cfg, task) if n in keep}  # in the order they are computed
    return _first_answer(logits), Cache(acts, cfg)


def param_count(params: Params) -> int:
    """Number of scalars in a (single-model) parameter pytree."""
    return sum(int(w.size) for w in jax.tree.leaves(params))
