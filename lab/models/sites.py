"""The hook sites: every intermediate a model sows, named once here, and the interventions on them.

A site is one activation tensor of one layer. Its name is the key of the activation cache and of
the `hooks` argument of `lab.models.apply` / `run_with_cache`:

    kind          transformer (block L)           MLP (hidden layer L)   shape
    embed         embed                           embed_a, embed_b       [B, L, D] / [B, E] (operand inputs)
    attn_pattern  block_L_attn/attn_pattern       -                      [B, H, Q, L]
    z             block_L_attn/z                  -                      [B, Q, H, E] (head outputs, before W_O)
    resid_mid     block_L_resid_mid               -                      [B, Q, D]
    mlp_pre       block_L_mlp/mlp_pre             mlp_pre_L              [B, Q, F] / [B, F]
    mlp_post      block_L_mlp/mlp_post            mlp_post_L             [B, Q, F] / [B, F]
    resid_post    block_L_resid_post              -                      [B, Q, D]

Q is every position except in the last block, which runs at the answer position(s) only. A hook is
a `Replace(mask, value)` (arrays, broadcast against the activation as numpy does, so vmappable over
models and masks; `zero_ablate`, `mean_ablate` and `patch` make the usual ones) or any function
activation -> activation. The value a site's hook returns is the
one the rest of the model reads, and the one the cache holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from lab.config import ModelConfig, SpecError, TaskConfig

TRANSFORMER_KINDS = ("attn_pattern", "z", "resid_mid", "mlp_pre", "mlp_post", "resid_post")  # per block, in order
MLP_KINDS = ("mlp_pre", "mlp_post")  # per hidden layer
KINDS = ("embed", *TRANSFORMER_KINDS)


class Replace(NamedTuple):
    """A hook that sets the activation to `value` where `mask` is true (both broadcast against it)."""

    mask: Any
    value: Any


Hook = Replace | Callable[[jax.Array], jax.Array]


def zero_ablate(mask: Any = True) -> Replace:
    """Set the site to 0 where mask is true (default everywhere; e.g. a bool [F] for some neurons)."""
    return Replace(jnp.asarray(mask, bool), 0.0)


def mean_ablate(act: Any, mask: Any = True) -> Replace:
    """Set the site to its mean over the batch of `act` (the site's activations on some inputs) where mask is true."""
    return Replace(jnp.asarray(mask, bool), jnp.mean(jnp.asarray(act), axis=0))


def patch(act: Any, mask: Any = True) -> Replace:
    """Set the site to `act`, its activations on other inputs (the same batch shape), where mask is true."""
    return Replace(jnp.asarray(mask, bool), act)


def n_layers(cfg: ModelConfig) -> int:
    """Blocks of a transformer, hidden layers of an MLP."""
    return cfg.n_layers if cfg.kind == "transformer" else cfg.depth


def site_name(cfg: ModelConfig, kind: str, layer: int | None = None) -> str:
    """The name of the `kind` site of `layer` (negative counts from the end; None: the last layer).

    Raises SpecError for a kind this model has not or a layer it lacks."""
    kinds = TRANSFORMER_KINDS if cfg.kind == "transformer" else MLP_KINDS
    if kind == "embed":
        return "embed"
    if kind not in kinds:
        raise SpecError(f"a {cfg.kind} has no {kind!r} sites; its kinds: {', '.join(('embed', *kinds))}")
    depth = n_layers(cfg)
    index = depth - 1 if layer is None else layer + depth if layer < 0 else layer
    if not 0 <= index < depth:
        raise SpecError(f"layer {layer} is out of range for a model of {depth} layers")
    if cfg.kind != "transformer":
        return f"{kind}_{index}"
    if kind in ("attn_pattern", "z"):
        return f"block_{index}_attn/{kind}"
    if kind in ("mlp_pre", "mlp_post"):
        return f"block_{index}_mlp/{kind}"
    return f"block_{index}_{kind}"


def sites(cfg: ModelConfig, task: TaskConfig) -> list[str]:
    """Every site of the model, in the order the forward pass computes them."""
    kinds = TRANSFORMER_KINDS if cfg.kind == "transformer" else MLP_KINDS
    embed = ["embed"] if cfg.kind == "transformer" else ["embed_a", "embed_b"] if task.is_table else []
    return embed + [site_name(cfg, kind, layer) for layer in range(n_layers(cfg)) for kind in kinds]


def intervene(hooks: Mapping[str, Hook] | None, name: str, act: jax.Array) -> jax.Array:
    """The activation at site `name` after its hook, if there is one."""
    hook = (hooks or {}).get(name)
    if hook is None:
        return act
    if isinstance(hook, Replace):
        mask, value = jnp.asarray(hook.mask), jnp.asarray(hook.value).astype(act.dtype)
        return jnp.where(_lead(mask, act.ndim), _lead(value, act.ndim), act)
    return hook(act)


def _lead(a: jax.Array, ndim: int) -> jax.Array:
    """a with leading size-1 axes up to ndim (numpy broadcasting, spelled out for strict rank promotion)."""
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def scoped(hooks: Mapping[str, Hook] | None, scope: str) -> dict[str, Hook]:
    """The hooks of one submodule (names under `scope/`), with that prefix dropped."""
    return {k[len(scope) + 1:]: v for k, v in (hooks or {}).items() if k.startswith(scope + "/")}


def check_hooks(hooks: Mapping[str, Hook] | None, cfg: ModelConfig, task: TaskConfig) -> None:
    """Raise SpecError for a hook on a site the model does not have."""
    unknown = sorted(set(hooks or {}) - set(sites(cfg, task)))
    if unknown:
        raise SpecError(f"no site {unknown[0]!r} in this model; its sites: {', '.join(sites(cfg, task))}")


class Cache(Mapping):
    """The activations of one forward pass, by site name or by (kind, layer): `cache["mlp_post", -1]`."""

    def __init__(self, acts: dict[str, jax.Array], cfg: ModelConfig):
        self._acts, self.cfg = acts, cfg

    def _key(self, key) -> str:
        if isinstance(key, tuple):
            return site_name(self.cfg, *key)
        if key in KINDS and key not in self._acts:
            return site_name(self.cfg, key)  # a kind alone: its last layer
        return key

    def __getitem__(self, key) -> jax.Array:
        name = self._key(key)
        if name not in self._acts:
            raise KeyError(f"{name!r} is not in this cache; it holds {', '.join(self._acts)}")
        return self._acts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._acts)

    def __len__(self) -> int:
        return len(self._acts)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self._acts.items())
        return f"Cache({shapes})"


jax.tree_util.register_pytree_node(
    Cache, lambda c: (tuple(c._acts.values()), (tuple(c._acts), c.cfg)),
    lambda aux, leaves: Cache(dict(zip(aux[0], leaves)), aux[1]))
