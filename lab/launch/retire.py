"""Retiring models whose outcome is decided (`train.retire_after` consecutive logs; off by default).

A model is decided when, for `train.retire_after` logs in a row, it has generalized (test accuracy 1 and
test loss at most `train.retire_loss`) or, with `train.retire_rule = "decided"`, when also its training
loss has stopped falling (no new low by 1% within those logs). A decided model freezes: its metrics rows
end and its last state stays in every later checkpoint. Where models train one at a time, the chunk skips
the frozen ones from then on; in vmapped batches, `lab.launch.runner` compacts the group to the models
still training once they are at most half of what the devices hold (a few recompiles per group).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lab.checkpoints.layout import RETIRED_FILE  # written before the save that holds the frozen states
from lab.config import TrainConfig



class Retirement:
    """The per-model counters of the rule, fed each logged step's metrics of the models still training."""

    def __init__(self, cfg: TrainConfig, n_models: int):
        self.after, self.loss, self.stalls = cfg.retire_after, cfg.retire_loss, cfg.retire_rule == "decided"
        self.streak = np.zeros(n_models, np.int64)
        self.best = np.full(n_models, np.inf)
        self.since_best = np.zeros(n_models, np.int64)

    def update(self, rows: np.ndarray, metrics: dict[str, np.ndarray]) -> list[int]:
        """The models (of rows, group-local indices) this log decides."""
        done = (np.asarray(metrics["test_acc"]) >= 1.0) & (np.asarray(metrics["test_loss"]) <= self.loss)
        self.streak[rows] = np.where(done, self.streak[rows] + 1, 0)
        decided = self.streak[rows] >= self.after
        if self.stalls:
            train_loss = np.asarray(metrics["train_loss"], np.float64)
            improved = train_loss < 0.99 * self.best[rows]
            self.best[rows] = np.where(improved, train_loss, self.best[rows])
            self.since_best[rows] = np.where(improved, 0, self.since_best[rows] + 1)
            decided |= self.since_best[rows] >= self.after
        return [int(r) for r in np.asarray(rows)[decided]]


    def replay(self, metrics, models: tuple[int, ...], retired: dict[int, int]) -> dict[int, int]:
        """Feed a resumed group's logged metrics (its table up to the checkpoint) through the rule, as the run
        that wrote them did; returns the models decided but not frozen yet ({model: step decided})."""
        local = {m: i for i, m in enumerate(models)}
        deciding: dict[int, int] = {}
        for step, rows in metrics[metrics.step > 0].sort_values(["step", "model"]).groupby("step", sort=True):
            logged = {k: rows[k].to_numpy().astype(np.float32) for k in ("test_acc", "test_loss", "train_loss")}
            for m in self.update(np.asarray([local[m] for m in rows.model]), logged):  # as float32, as logged
                deciding.setdefault(m, int(step))
        return {m: at for m, at in deciding.items() if m not in retired}


def read_retired(group_dir: Path) -> dict[int, int]:
    """{group-local model index: step it froze at} of a group being resumed ({} if none retired)."""
    path = Path(group_dir) / RETIRED_FILE
    return {int(k): int(v) for k, v in json.loads(path.read_text()).items()} if path.is_file() else {}


def write_retired(group_dir: Path, retired: dict[int, int]) -> None:
    """Record the retired models (atomically)."""
    path = Path(group_dir) / RETIRED_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({str(k): v for k, v in sorted(retired.items())}) + "\n")
    tmp.replace(path)
