"""Expanding a spec's sweep into models: swept numbers become per-model arrays, and fields that
change shapes (or anything else static) split the sweep into groups run one after another."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab import tasks
from lab.config import PER_MODEL_FIELDS, Spec, SpecError
from lab.sweeps.hparams import HParams, hparams_of


@dataclass(frozen=True)
class Group:
    """Models of one sweep that share every static field, trained by one compiled program."""

    index: int
    spec: Spec  # static fields set for this group; per-model fields hold the first model's values
    models: tuple[int, ...]  # global model indices, in grid order
    rows: tuple[dict[str, Any], ...]  # each model's swept values ("train.lr": 0.001, ...)
    numbers: tuple[dict[str, Any], ...]  # each model's per-model fields, resolved (variants included)

    @property
    def size(self) -> int:
        return len(self.models)

    def hparams(self) -> HParams:
        """The per-model numbers as arrays [M] (float32, seeds int32)."""
        return hparams_of(self.spec, list(self.numbers))

    @property
    def shares_data(self) -> bool:
        """Whether every model of the group trains on the same dataset (one data seed and train fraction)."""
        hp = self.hparams()
        return len(set(np.asarray(hp.data_seed).tolist())) == 1 and len(set(np.asarray(hp.train_frac).tolist())) == 1

    def n_train_max(self) -> int:
        """Rows of the padded training set: enough for the group's largest train fraction."""
        return tasks.n_train_max(self.spec.task, float(self.hparams().train_frac.max()))


def axes_of(spec: Spec) -> list[tuple[str, tuple[Any, ...]]]:
    """The swept fields in file order (the variants first), with train.seed (from sweep.seeds) last."""
    axes = list(spec.sweep.axes)
    if spec.sweep.variants:
        axes.insert(0, ("variant", tuple(name for name, _ in spec.sweep.variants)))
    if not any(k == "train.seed" for k, _ in axes):
        axes.append(("train.seed", tuple(spec.train.seed + i for i in range(spec.sweep.seeds))))
    elif spec.sweep.seeds != 1:
        raise SpecError("set either sweep.seeds or a list sweep.\"train.seed\", not both")
    return axes


def expand(spec: Spec) -> list[Group]:
    """Every model of the grid, grouped by static fields; each model's spec is validated."""
    axes = axes_of(spec)
    names = [k for k, _ in axes]
    base = {dotted: spec.get(dotted) for dotted in PER_MODEL_FIELDS}
    groups: dict[Spec, list[tuple[int, dict[str, Any], Spec]]] = {}
    for index, values in enumerate(itertools.product(*(v for _, v in axes))):
        row = dict(zip(names, values))
        if spec.sweep.seed_data:  # a seed column too (see summary.SEED_COLUMNS)
            row["task.data_seed"] = row["train.seed"]
        model_spec = spec.replace_all(row)
        model_spec.validate()
        if model_spec.task.split_from:  # its file against this model's train_frac (a train_index fixes it)
            tasks.fixed_split(model_spec.task)
        if model_spec.train.batches_from:  # its epochs against this model's training rows and steps
            tr = model_spec.train
            tasks.check_epoch_orders(tr.batches_from, tasks.n_train_max(model_spec.task, model_spec.task.train_frac),
                                     tr.steps, tr.batch_size)
        static_spec = model_spec.replace_all(base)  # models that differ only in per-model numbers share a group
        groups.setdefault(static_spec, []).append((index, row, model_spec))
    return [Group(g, members[0][2], tuple(i for i, _, _ in members), tuple(r for _, r, _ in members),
                  tuple({dotted: m.get(dotted) for dotted in PER_MODEL_FIELDS} for _, _, m in members))
            for g, members in enumerate(groups.values())]


def _subgroup(parent: Group, index: int, models: list[int]) -> Group:
    rows, numbers = dict(zip(parent.models, parent.rows)), dict(zip(parent.models, parent.numbers))
    return Group(index, parent.spec, tuple(models), tuple(rows[m] for m in models), tuple(numbers[m] for m in models))


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
