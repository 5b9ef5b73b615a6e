"""The PAIR explorable's phase classes of a model, and the phase table of a two-axis sweep.

The rule (Pearce et al. 2023, "Do Machine Learning Models Memorize or Generalize?"), applied
to one model's logged metrics:

1. "no learning"  if the minimum train loss stays above 1e-5;
2. "memorizes"    else, if the minimum test loss stays above 1e-5;
3. "grokking"     else, if the largest ratio test loss / train loss over training reaches 5e4;
4. "generalizes"  otherwise.

    from lab.report.phases import classify, phase_table
    classify(run.metrics[run.metrics.model == 3])          # "grokking"
    phase_table(run.metrics, run.grid, ["train.weight_decay", "model.width"])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab.analysis.summary import per_model

NO_LEARNING, MEMORIZES, GROKKING, GENERALIZES = "no learning", "memorizes", "grokking", "generalizes"
CLASSES = (NO_LEARNING, MEMORIZES, GROKKING, GENERALIZES)

LEARNED_LOSS = 1e-5  # the minimum train loss must fall to this for a model to have learned
GENERALIZED_LOSS = 1e-5  # the minimum test loss must fall to this for a model to have generalized
GROK_RATIO = 5e4  # the largest test / train loss ratio that marks a delay between the two


def classify(
    model_metrics: pd.DataFrame,
    learned_loss: float = LEARNED_LOSS,
    generalized_loss: float = GENERALIZED_LOSS,
    grok_ratio: float = GROK_RATIO,
) -> str:
    """The PAIR phase class of one model from its logged metrics (see the module docstring).

    Non-finite losses (a diverged step) are ignored; a model with no finite train loss is
    "no learning". A train loss of exactly 0 (float32 rounding) counts as the smallest
    positive float32 in the ratio, so such a step gives a very large ratio.

    Args:
        model_metrics: one model's rows of `run.metrics` (columns train_loss and test_loss).
        learned_loss: "no learning" when the minimum train loss stays above this.
        generalized_loss: "memorizes" when the minimum test loss stays above this.
        grok_ratio: "grokking" when max(test loss / train loss) reaches this.

    Returns:
        One of `CLASSES`: "no learning", "memorizes", "grokking" or "generalizes".
    """
    train_T = np.asarray(model_metrics["train_loss"], np.float64)
    test_T = np.asarray(model_metrics["test_loss"], np.float64)
    finite_train, finite_test = np.isfinite(train_T), np.isfinite(test_T)
    both_T = finite_train & finite_test
    ratio_T = test_T[both_T] / np.maximum(train_T[both_T], np.finfo(np.float32).tiny)
    return classify_numbers(train_T[finite_train].min() if finite_train.any() else np.inf,
                            test_T[finite_test].min() if finite_test.any() else np.inf,
                            ratio_T.max() if ratio_T.size else 0.0, learned_loss, generalized_loss, grok_ratio)


def classify_numbers(min_train_loss: float, min_test_loss: float, max_ratio: float,
                     learned_loss: float = LEARNED_LOSS, generalized_loss: float = GENERALIZED_LOSS,
                     grok_ratio: float = GROK_RATIO) -> str:
    """The phase class from the three numbers the explorable keeps per model (its sweep CSV's columns)."""
    if not min_train_loss <= learned_loss:
        return NO_LEARNING
    if not min_test_loss <= generalized_loss:
        return MEMORIZES
    return GROKKING if max_ratio >= grok_ratio else GENERALIZES


def _majority(classes: pd.Series) -> tuple[str, int]:
    """The most common class and its count; ties go to the class listed first in `CLASSES`."""
    counts = classes.value_counts()
    best = max(CLASSES, key=lambda c: (counts.get(c, 0), -CLASSES.index(c)))
    return best, int(counts.get(best, 0))


def phase_table(metrics: pd.DataFrame, grid: pd.DataFrame, axes: list[str], **thresholds) -> pd.DataFrame:
    """Per setting of `axes` (seeds pooled): the median step to generalize and the majority class.

    Args:
        metrics: `run.metrics`.
        grid: `run.grid`.
        axes: the swept columns that make a setting (e.g. the two axes of a phase diagram).
        **thresholds: passed to `classify` (learned_loss, generalized_loss, grok_ratio).

    Returns:
        One row per setting: the axis values, models, median_step (the median over seeds of the
        first logged step with test accuracy >= 0.95, a model that never gets there counting
        as infinitely late, so inf when at least half never do), phase (the majority class)
        and phase_count (how many of the setting's models are in it).
    """
    models = per_model(metrics)[["model", "step_generalized"]].copy()
    phases = {m: classify(part, **thresholds) for m, part in metrics.sort_values("step").groupby("model")}
    models["phase"] = models["model"].map(phases)
    return majority_by_setting(models.merge(grid, on="model"), axes)


def majority_by_setting(table: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Per setting of `axes` of a per-model table with a `phase` column (and optionally `step_generalized`):
    models, the majority class and its count, and the median step to generalize when the table has it."""
    rows = []
    for values, part in table.groupby(axes, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        phase, count = _majority(part["phase"])
        row = {**dict(zip(axes, values)), "models": len(part), "phase": phase, "phase_count": count}
        if "step_generalized" in part:
            row["median_step"] = float(np.median(part["step_generalized"].fillna(np.inf)))
        rows.append(row)
    return pd.DataFrame(rows)
