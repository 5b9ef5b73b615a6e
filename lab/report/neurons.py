"""The neuron-level data behind `lab report`'s neuron figures: the representative model's seed
siblings, the inputs to measure on, activation tables, heuristic scores and their neuron families.

Everything here reads a `lab.checkpoints.Run` and returns arrays or tables; drawing is in
`lab.report.neuron_figures`; what does not apply raises Skip (a skipped figure with its reason).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from lab.analysis import activations, heuristics, universality
from lab.report.figures import setting_keys
from lab.report.skip import Skip

MATCH = 0.5  # a neuron implements its best heuristic when their correlation is at least this
MAX_SEEDS = 9  # universality is computed over at most this many seed siblings
PARITY_ROWS = 4096  # inputs sampled for parity tasks


def seed_siblings(grid: pd.DataFrame, model: int) -> list[int]:
    """The models with the same swept settings as `model` (they differ only by seed), model first."""
    keys = setting_keys(grid)
    rows = grid.set_index("model")
    same = [int(m) for m in rows.index if all(rows.loc[m, k] == rows.loc[model, k] for k in keys)]
    return [model] + [m for m in same if m != model]


def dataset(spec: Any) -> tuple[Any, np.ndarray]:
    """Inputs and labels to measure neurons on: every pair of a table task, or sampled parity rows."""
    if not (spec.task.is_table or spec.task.name == "parity"):
        raise Skip(f"neuron tables are defined for modular, integer and parity tasks "
                            f"(this task is {spec.task.name})")
    n = PARITY_ROWS if spec.task.is_table or spec.task.n_bits > 20 else min(PARITY_ROWS, 2**spec.task.n_bits)
    x, y = activations.default_dataset(spec, n=n)
    return x, np.asarray(y)


def grid_task(spec: Any):
    """The task config whose `all_pairs` order is the complete dataset's order (no symmetric halving)."""
    if not spec.task.is_table:
        raise Skip(f"heuristics are patterns over the (a, b) grid; this task is {spec.task.name}")
    return dataclasses.replace(spec.task, symmetric=False)


def heuristic_scores(acts_NxF: np.ndarray, spec: Any) -> pd.DataFrame:
    """`heuristics.score_neurons` over the complete dataset, with a `matches` column (score >= MATCH, alive)."""
    table = heuristics.score_neurons(acts_NxF, grid_task(spec))
    table["matches"] = (table.score >= MATCH) & ~table.dead
    return table


def heuristic_ranking(table: pd.DataFrame) -> np.ndarray:
    """Neurons by heuristic score, best first (dead neurons last)."""
    return table.assign(key=np.where(table.dead, -np.inf, table.score)).sort_values(
        "key", ascending=False, kind="stable").neuron.to_numpy()


def families(acts_NxF: np.ndarray, params: dict, spec: Any, universal_F: np.ndarray) -> tuple[pd.DataFrame, str]:
    """Each neuron's family, by the task's natural label, and what the label is.

    Modular arithmetic over the full grid: the dominant Fourier frequency; other table tasks: the best
    heuristic family; parity: the k bits with the largest first-layer weights.
    """
    task = spec.task
    if task.name == "modular" and acts_NxF.shape[0] == task.p * task.p:
        return universality.families_by_frequency(acts_NxF, task.p, universal_F), "dominant frequency"
    if task.is_table:
        table = heuristic_scores(acts_NxF, spec)
        table["universal"] = universal_F
        return table, "best heuristic family"
    return universality.families_by_bits(params["W_in"], task.k, universal_F), "bits read"


def tables_of(run: Any, models: list[int], x: Any, step: int | None = None) -> list[np.ndarray]:
    """The last MLP layer's activation table of each model at a saved step (default: the last)."""
    out = []
    for model in models:
        out.append(activations.activation_table(run.model(model, step), x=x))
    return out
