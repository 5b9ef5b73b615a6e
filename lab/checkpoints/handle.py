"""One trained model of a run at one saved step: `run.model(i, step=None)`.

    m = run.model(3)                              # the last saved step
    logits = m.apply(m.test_set[0])               # [N, C]
    logits, cache = m.run_with_cache(x, names=["mlp_post", "attn_pattern"])
    cache["mlp_post", -1]                         # by kind and layer, or by site name
    m.apply(x, hooks={m.site("mlp_post", 0): lab.models.Replace(mask_F, 0.0)})
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import cached_property, lru_cache
from typing import Any

import jax
import numpy as np

from lab import models, tasks
from lab.config import ModelConfig, Spec, TaskConfig
from lab.sweeps import Group, hparams_of
from lab.train import make_data, precision_scope


@lru_cache(maxsize=64)
def _compiled(model_cfg: ModelConfig, task_cfg: TaskConfig):
    """The jitted apply and run_with_cache of one model shape (Replace hooks traced, names static)."""
    apply = jax.jit(lambda p, x, hooks: models.apply(p, x, model_cfg, task_cfg, hooks))
    cached = jax.jit(lambda p, x, hooks, names: models.run_with_cache(p, x, model_cfg, task_cfg, names=names,
                                                                      hooks=hooks), static_argnums=3)
    return apply, cached


class TrainedModel:
    """One model of a run at one saved step: its params, its own spec (swept values set) and grid row.

    Attributes:
        index: the model's index in the run's grid.
        step: the saved step its params are from.
        params: nested dict of numpy arrays (no optimizer state).
        spec: the model's own `lab.config.Spec`: every swept value of its grid row is set.
        row: its swept values ({"train.lr": 0.001, "train.seed": 1, ...}).
        group: the index of the group it trained in.
    """

    def __init__(self, index: int, step: int, params: dict[str, Any], spec: Spec, row: dict[str, Any], group: Group):
        self.index, self.step, self.params, self.spec, self.row = index, step, params, spec, dict(row)
        self.group, self._group = group.index, group

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.row.items())
        return (f"TrainedModel({self.index} at step {self.step}: {self.spec.model.kind} on {_task_label(self.spec)}"
                f"{', ' + values if values else ''}; {models.param_count(self.params):,} parameters)")

    def site(self, kind: str, layer: int | None = None) -> str:
        """The name of a hook site (`lab.models.site_name`): kind in embed, attn_pattern, z, resid_mid,
        mlp_pre, mlp_post, resid_post; layer negative from the end, None the last."""
        return models.site_name(self.spec.model, kind, layer)

    @property
    def sites(self) -> list[str]:
        """Every hook site of this model, in the order the forward pass computes them."""
        return models.sites(self.spec.model, self.spec.task)

    def apply(self, x: Any, hooks: Mapping[str, models.Hook] | None = None) -> np.ndarray:
        """Logits [B, C] on inputs x [B, ...], with optional hooks ({site name: Replace or function}).

        Replace hooks run compiled (one compile per model spec); function hooks run eagerly."""
        models.check_hooks(hooks, self.spec.model, self.spec.task)
        with precision_scope(self.spec):
            if _all_arrays(hooks):
                return np.asarray(_compiled(self.spec.model, self.spec.task)[0](self.params, x, dict(hooks or {})))
            return np.asarray(models.apply(self.params, x, self.spec.model, self.spec.task, hooks))

    def run_with_cache(self, x: Any, names: Sequence[str] | None = None,
                       hooks: Mapping[str, models.Hook] | None = None) -> tuple[np.ndarray, models.Cache]:
        """Logits [B, C] and the activations of every site (or of `names`: sites, or kinds for every layer),
        after any hooks (as in `apply`)."""
        models.check_hooks(hooks, self.spec.model, self.spec.task)
        names = None if names is None else tuple(names)
        with precision_scope(self.spec):
            if _all_arrays(hooks):
                logits, cache = _compiled(self.spec.model, self.spec.task)[1](self.params, x, dict(hooks or {}), names)
            else:
                logits, cache = models.run_with_cache(self.params, x, self.spec.model, self.spec.task, names=names,
                                                      hooks=hooks)
        return np.asarray(logits), jax.tree.map(np.asarray, cache)

    @cached_property
    def data(self) -> tasks.Data:
        """The model's dataset as it trained on it (train rows padded to the group's size: see w_train)."""
        hp = jax.tree.map(lambda v: v[0], hparams_of(self.spec, [self.row]))
        with precision_scope(self.spec):
            return jax.tree.map(np.asarray, make_data(self.spec, hp, self._group.n_train_max()))

    @property
    def train_set(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the training rows (padding dropped). Parity tasks draw theirs afresh: see the spec."""
        keep = self.data.w_train > 0
        return self.data.x_train[keep], self.data.y_train[keep]

    @property
    def test_set(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the test rows that count."""
        keep = self.data.w_test > 0
        return self.data.x_test[keep], self.data.y_test[keep]

    def _repr_html_(self) -> str:
        values = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in self.row.items())
        shapes = "".join(f"<tr><td><code>{html.escape(name)}</code></td><td>{tuple(w.shape)}</td></tr>"
                         for name, w in _flat(self.params))
        return (f"<div><b>model {self.index}</b> at step {self.step} (group {self.group}): {self.spec.model.kind} on "
                f"{html.escape(_task_label(self.spec))}, {models.param_count(self.params):,} parameters"
                f"<table><tr><th>swept</th><th>value</th></tr>{values}</table>"
                f"<details><summary>parameters</summary><table>{shapes}</table></details>"
                f"<details><summary>hook sites</summary><code>{html.escape(', '.join(self.sites))}</code></details>"
                "</div>")

    def params_tree(self) -> "Html":
        """The params as a treescope tree: displays as an interactive, foldable tree in a notebook."""
        import treescope  # installed with Flax

        return Html(treescope.render_to_html(self.params))


class Html:
    """A piece of HTML that a notebook displays."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return "<HTML: shown in a notebook>"

    def _repr_html_(self) -> str:
        return self.text


def _all_arrays(hooks) -> bool:
    """Whether every hook is a Replace (arrays: a jit argument) rather than a function."""
    return all(isinstance(h, models.Replace) for h in (hooks or {}).values())


def _flat(params) -> list[tuple[str, Any]]:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return [("/".join(str(k.key) for k in path), w) for path, w in flat]


def _task_label(spec: Spec) -> str:
    task = spec.task
    if task.name == "modular":
        return f"{task.op} mod {task.p}"
    return task.name if task.name not in ("parity", "multitask_parity") else f"{task.name} n={task.n_bits}"

