"""What a sweep did, in a few lines: per setting, final accuracies and when each model grokked."""

from __future__ import annotations

import numpy as np
import pandas as pd

TRAIN_FIT = 0.99  # "memorized": train accuracy at least this
TEST_FIT = 0.95  # "generalized": test accuracy at least this


def first_step(table: pd.DataFrame, column: str, threshold: float) -> float:
    """The first logged step where column >= threshold, or NaN if never."""
    hit = table.loc[table[column] >= threshold, "step"]
    return float(hit.iloc[0]) if len(hit) else np.nan


def per_model(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model: final accuracies, steps to fit train and to generalize, and the gap."""
    rows = []
    for model, table in metrics.sort_values("step").groupby("model"):
        last = table.iloc[-1]
        fit, gen = first_step(table, "train_acc", TRAIN_FIT), first_step(table, "test_acc", TEST_FIT)
        rows.append({"model": model, "train_acc": last.train_acc, "test_acc": last.test_acc,
                     "step_train_fit": fit, "step_generalized": gen})
    return pd.DataFrame(rows)


SEED_COLUMNS = ("model", "group", "train.seed", "task.data_seed")  # grid columns that are no setting


def setting_columns(grid: pd.DataFrame) -> list[str]:
    """The swept columns that make a setting: every grid column but the model, group and seeds."""
    return [c for c in grid.columns if c not in SEED_COLUMNS]


def settings_table(metrics: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """Per swept setting (seeds pooled): mean final accuracies, models generalized, median steps."""
    table = per_model(metrics).merge(grid, on="model")
    keys = setting_columns(grid)
    if not keys:
        table["setting"] = "all"
        keys = ["setting"]
    out = table.groupby(keys, sort=False).agg(
        models=("model", "size"),
        train_acc=("train_acc", "mean"),
        test_acc=("test_acc", "mean"),
        generalized=("step_generalized", lambda s: int(s.notna().sum())),
        step_train_fit=("step_train_fit", "median"),
        step_generalized=("step_generalized", "median"),
    )
    return out.reset_index()


def format_summary(metrics: pd.DataFrame, grid: pd.DataFrame, max_rows: int = 30) -> str:
    """The settings table as text, with a line saying what the columns mean."""
    table = settings_table(metrics, grid)
    for column in ("step_train_fit", "step_generalized"):
        table[column] = [("never" if np.isnan(v) else f"{v:.0f}") for v in table[column]]
    text = table.head(max_rows).to_string(index=False, float_format=lambda v: f"{v:.3g}")
    more = f"\n... and {len(table) - max_rows} more settings (see run.metrics)" if len(table) > max_rows else ""
    legend = (f"step_train_fit: median first step with train acc >= {TRAIN_FIT}; step_generalized: with test "
              f"acc >= {TEST_FIT}; generalized: models (of `models`) that got there")
    return f"{text}{more}\n{legend}"
