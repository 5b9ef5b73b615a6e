"""The notebook API: `run = lab.open(DIR)` for a run directory written by `lab sweep`."""

from __future__ import annotations

from functools import cached_property, partial
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from lab.checkpoints import layout
from lab.checkpoints.orbax_io import UNREADABLE, CheckpointStore
from lab.errors import LabError


class Run:
    """A run directory: its spec, grid, metrics, saved steps and the parameters at each of them.

    Attributes:
        path: the run directory.
        spec: the validated `lab.config.Spec` the run was trained with.
        groups: the `lab.sweeps.Group`s (models sharing shapes) of the sweep.
    """

    def __init__(self, path: str | Path):
        from lab.sweeps import expand, spec_from_dict  # the sweeps layer sits above checkpoints
        from lab.sweeps.grid import regroup

        self.path = Path(path)
        self.meta = layout.read_run_json(self.path)
        self.spec = spec_from_dict(self.meta["spec"])
        self.groups = regroup(expand(self.spec), [g["models"] for g in self.meta["groups"]])
        self._cache: tuple[tuple[int, int], Any] | None = None

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

    def group_of(self, model: int) -> int:
        """The group index of a model."""
        for g in self.groups:
            if model in g.models:
                return g.index
        raise LabError(f"model {model} is not in this run; models are 0..{len(self.grid) - 1}")

    def state(self, step: int, group: int = 0) -> Any:
        """The stacked `TrainState` (leading model axis M) of a group at a saved step."""
        from lab.train import init_state, precision_scope

        if self._cache and self._cache[0] == (group, step):
            return self._cache[1]
        g = self.groups[group]
        store = self._store(group)
        if step not in store.steps():
            raise LabError(f"step {step} was not saved for group {group}; saved steps: {store.steps()}")
        with precision_scope(g.spec):  # float64 runs restore as float64
            like = jax.eval_shape(jax.vmap(partial(init_state, g.spec)), g.hparams())
        state = store.restore(step, like)
        self._cache = ((group, step), state)
        return state

    def params(self, model: int, step: int | None = None) -> dict[str, Any]:
        """One model's parameters at a saved step (default: the last) as a nested dict of numpy arrays."""
        group = self.group_of(model)
        step = self.steps[-1] if step is None else step
        index = self.groups[group].models.index(model)
        return jax.tree.map(lambda w: np.asarray(w[index]), self.state(step, group).params)

    def spec_of(self, model: int):
        """The static spec of a model's group (per-model numbers: see `grid`)."""
        return self.groups[self.group_of(model)].spec


def open_run(path: str | Path) -> Run:
    """Open a run directory written by `lab sweep` (see `Run`)."""
    return Run(path)
