"""The notebook API: `run = lab.open(DIR)` for a run directory written by `lab sweep`, and
`run.model(i, step)` for one trained model (`lab.checkpoints.handle.TrainedModel`)."""

from __future__ import annotations

import html
import json
from collections import OrderedDict
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from lab.checkpoints import layout
from lab.checkpoints.handle import TrainedModel
from lab.checkpoints.orbax_io import UNREADABLE, CheckpointStore
from lab.errors import LabError
from lab.sweeps import expand, spec_from_dict
from lab.sweeps.grid import regroup
from lab.train import init_state, precision_scope


class Run:
    """A run directory: its spec, grid, metrics, saved steps and the parameters at each of them.

    Attributes:
        path: the run directory.
        spec: the validated `lab.config.Spec` the run was trained with.
        groups: the `lab.sweeps.Group`s (models sharing shapes) of the sweep.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.meta = layout.read_run_json(self.path)
        self.spec = spec_from_dict(self.meta["spec"])
        self.groups = regroup(expand(self.spec), [g["models"] for g in self.meta["groups"]])
        self._params: OrderedDict[tuple[int, int], Any] = OrderedDict()  # (group, step) -> stacked params

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}: {len(self.grid)} models in {len(self.groups)} groups, steps {self.steps})"

    @cached_property
    def grid(self) -> pd.DataFrame:
        """One row per model: `model`, `group` and its swept values (`train.lr`, `train.seed`, ...)."""
        return layout.read_grid(self.path)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """One row per model and logged step, with the model's swept values as columns."""
        tables = [layout.read_metrics(layout.group_dir(self.path, g.index)) for g in self.groups]
        tables = [t for t in tables if t is not None]
        if not tables:
            raise LabError(f"{self.path} has no metrics yet; has `lab sweep` run into it?")
        table = pd.concat(tables, ignore_index=True)
        return table.merge(self.grid, on="model", how="left").sort_values(["model", "step"]).reset_index(drop=True)

    def _store(self, group: int) -> CheckpointStore:
        return CheckpointStore(layout.group_dir(self.path, group) / "checkpoints", read_only=True)

    @cached_property
    def steps(self) -> list[int]:
        """The saved steps (those of every group)."""
        per_group = [set(self._store(g.index).steps()) for g in self.groups]
        return sorted(set.intersection(*per_group)) if per_group else []

    @cached_property
    def unreadable_steps(self) -> dict[int, list[str]]:
        """Per group, the checkpoints `lab sweep` found unreadable and moved aside (folder names), if any."""
        out = {}
        for g in self.groups:
            moved = sorted(p.name for p in layout.group_dir(self.path, g.index).glob(f"{UNREADABLE}*"))
            if moved:
                out[g.index] = moved
        return out

    @cached_property
    def retired(self) -> dict[int, int]:
        """The models retired early by `train.retire_after` (their outcome decided): {model: the step it froze at}.

        A retired model's metrics rows end at that step, and every later checkpoint holds its frozen state."""
        out = {}
        for g in self.groups:
            path = layout.group_dir(self.path, g.index) / layout.RETIRED_FILE
            if path.is_file():
                out.update({g.models[int(k)]: int(v) for k, v in json.loads(path.read_text()).items()})
        return dict(sorted(out.items()))

    def group_of(self, model: int) -> int:
        """The group index of a model."""
        for g in self.groups:
            if model in g.models:
                return g.index
        raise LabError(f"model {model} is not in this run; models are 0..{len(self.grid) - 1}")

    def _like(self, group: int) -> Any:
        """The abstract stacked state of a group (shapes and dtypes, nothing computed)."""
        g = self.groups[group]
        with precision_scope(g.spec):  # float64 runs restore as float64
            return jax.eval_shape(jax.vmap(partial(init_state, g.spec)), g.hparams())

    def _check_step(self, step: int, group: int) -> CheckpointStore:
        store = self._store(group)
        if step not in store.steps():
            raise LabError(f"step {step} was not saved for group {group}; saved steps: {store.steps()}")
        return store

    def state(self, step: int, group: int = 0) -> Any:
        """The stacked `TrainState` (leading model axis M) of a group at a saved step, optimizer state included."""
        return self._check_step(step, group).restore(step, self._like(group))

    def group_params(self, step: int, group: int = 0) -> dict[str, Any]:
        """The stacked params [M, ...] of a group at a saved step (no optimizer state; cached by step)."""
        key = (group, step)
        if key in self._params:
            self._params.move_to_end(key)
            return self._params[key]
        params = self._check_step(step, group).restore_part(step, "params", self._like(group).params)
        self._params[key] = params
        while len(self._params) > 1 and sum(_nbytes(p) for p in self._params.values()) > PARAMS_CACHE_BYTES:
            self._params.popitem(last=False)  # the least recently read
        return params

    def _step(self, step: int | None) -> int:
        if not self.steps:
            raise LabError(f"{self.path} has no saved step readable by every group yet")
        return self.steps[-1] if step is None else int(step)

    def params(self, model: int, step: int | None = None) -> dict[str, Any]:
        """One model's parameters at a saved step (default: the last) as a nested dict of numpy arrays."""
        group = self.group_of(model)
        index = self.groups[group].models.index(model)
        return jax.tree.map(lambda w: np.array(w[index]), self.group_params(self._step(step), group))  # a copy

    def spec_of(self, model: int):
        """A model's own spec: its group's static fields with every swept value of its grid row set."""
        g = self.groups[self.group_of(model)]
        return g.spec.replace_all(g.numbers[g.models.index(model)])

    def model(self, model: int, step: int | None = None) -> TrainedModel:
        """One trained model at a saved step (default: the last): params, own spec, grid row, dataset, hooks."""
        step = self._step(step)
        g = self.groups[self.group_of(model)]
        return TrainedModel(model, step, self.params(model, step), self.spec_of(model),
                            g.rows[g.models.index(model)], g)

    def _repr_html_(self) -> str:
        swept = [c for c in self.grid.columns if c not in ("model", "group")]
        values = "".join(f"<tr><td>{html.escape(c)}</td><td>{html.escape(', '.join(map(str, sorted(self.grid[c].unique()))))}"
                         "</td></tr>" for c in swept)
        groups = "".join(f"<tr><td>{g.index}</td><td>{g.size}</td><td>{html.escape(_models_label(g.models))}</td></tr>"
                         for g in self.groups)
        spec = html.escape(json.dumps(self.meta["spec"], indent=1))
        return (f"<div><b>{html.escape(self.spec.name)}</b> in <code>{html.escape(str(self.path))}</code>: "
                f"{len(self.grid)} models in {len(self.groups)} groups; saved steps {html.escape(str(self.steps))}"
                f"<table><tr><th>swept</th><th>values</th></tr>{values}</table>"
                f"<details><summary>groups</summary><table><tr><th>group</th><th>models</th><th>indices</th></tr>"
                f"{groups}</table></details><details><summary>spec</summary><pre>{spec}</pre></details></div>")


PARAMS_CACHE_BYTES = 1 << 30  # params kept in memory per Run, across steps and groups


def _nbytes(tree) -> int:
    return sum(w.nbytes for w in jax.tree.leaves(tree))


def _models_label(models: tuple[int, ...]) -> str:
    return f"{models[0]}..{models[-1]}" if list(models) == list(range(models[0], models[-1] + 1)) else str(list(models))


def open_run(path: str | Path) -> Run:
    """Open a run directory written by `lab sweep` (see `Run`)."""
    return Run(path)
