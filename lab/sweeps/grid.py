"""Expanding a spec's sweep into models: swept numbers become per-model arrays, and fields that
change shapes (or anything else static) split the sweep into groups run one after another."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab import tasks
from lab.config import PER_MODEL_FIELDS, Spec, SpecError
from lab.train import HParams

HPARAM_FIELDS = dict(zip(HParams._fields, PER_MODEL_FIELDS))  # HParams name -> dotted spec field


@dataclass(frozen=True)
class Group:
    """Models of one sweep that share every static field, trained by one compiled program."""

    index: int
    spec: Spec  # static fields set for this group; per-model fields hold the first model's values
    models: tuple[int, ...]  # global model indices, in grid order
    rows: tuple[dict[str, Any], ...]  # each model's swept values ("train.lr": 0.001, ...)

    @property
    def size(self) -> int:
        return len(self.models)

    def hparams(self) -> HParams:
        """The per-model numbers as arrays [M] (float32, seeds int32)."""
        cols = {}
        for name, dotted in HPARAM_FIELDS.items():
            section, field = dotted.split(".")
            values = [row.get(dotted, getattr(getattr(self.spec, section), field)) for row in self.rows]
            cols[name] = np.asarray(values, np.int32 if "seed" in name else np.float32)
        return HParams(**cols)

    @property
    def shares_data(self) -> bool:
        """Whether every model of the group trains on the same dataset (one data seed and train fraction)."""
        hp = self.hparams()
        return len(set(np.asarray(hp.data_seed).tolist())) == 1 and len(set(np.asarray(hp.train_frac).tolist())) == 1

    def n_train_max(self) -> int:
        """Rows of the padded training set: enough for the group's largest train fraction."""
        return tasks.n_train_max(self.spec.task, float(self.hparams().train_frac.max()))


def axes_of(spec: Spec) -> list[tuple[str, tuple[Any, ...]]]:
    """The swept fields in file order, with train.seed (from sweep.seeds) last."""
    axes = list(spec.sweep.axes)
    if not any(k == "train.seed" for k, _ in axes):
        axes.append(("train.seed", tuple(spec.train.seed + i for i in range(spec.sweep.seeds))))
    elif spec.sweep.seeds != 1:
        raise SpecError("set either sweep.seeds or a list sweep.\"train.seed\", not both")
    return axes


def expand(spec: Spec) -> list[Group]:
    """Every model of the grid, grouped by static fields; each model's spec is validated."""
    axes = axes_of(spec)
    names = [k for k, _ in axes]
    static = [k for k in names if k not in PER_MODEL_FIELDS]
    groups: dict[tuple, list[tuple[int, dict[str, Any]]]] = {}
    for index, values in enumerate(itertools.product(*(v for _, v in axes))):
        row = dict(zip(names, values))
        model_spec = spec
        for k, v in row.items():
            model_spec = model_spec.replace(k, v)
        model_spec.validate()
        groups.setdefault(tuple(row[k] for k in static), []).append((index, row))
    out = []
    for g, members in enumerate(groups.values()):
        group_spec = spec
        for k, v in members[0][1].items():
            group_spec = group_spec.replace(k, v)
        out.append(Group(g, group_spec, tuple(i for i, _ in members), tuple(r for _, r in members)))
    return out


def _subgroup(parent: Group, index: int, models: list[int]) -> Group:
    rows = dict(zip(parent.models, parent.rows))
    return Group(index, parent.spec, tuple(models), tuple(rows[m] for m in models))


def split_groups(groups: list[Group], limit) -> list[Group]:
    """Groups of at most limit(group) models each (split in grid order), renumbered."""
    out: list[Group] = []
    for g in groups:
        n = max(1, limit(g))
        for begin in range(0, g.size, n):
            out.append(_subgroup(g, len(out), list(g.models[begin : begin + n])))
    return out


def regroup(groups: list[Group], model_lists: list[list[int]]) -> list[Group]:
    """The groups a run was trained in, from the model lists saved in its run.json."""
    parent_of = {m: g for g in groups for m in g.models}
    return [_subgroup(parent_of[models[0]], i, list(models)) for i, models in enumerate(model_lists)]
