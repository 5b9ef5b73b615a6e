"""Skills and emergence (Michaud et al. 2023; Arora and Goyal 2023): when each subtask of multitask
sparse parity is learned, and power-law fits of loss against scale.

    from lab.analysis import emergence
    steps = emergence.skill_steps(run.metrics)           # one row per model and skill: the step it was learned
    fit = emergence.fit_power_law(params_N, loss_N)      # loss = a * x^(-alpha), with a bootstrap interval
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

SKILL_COLUMN = re.compile(r"^test_acc_task_(\d+)$")


def skill_columns(metrics: pd.DataFrame) -> list[str]:
    """The per-skill accuracy columns of a run's metrics, in skill order (test_acc_task_0, ...)."""
    found = sorted((int(m.group(1)), c) for c in metrics.columns if (m := SKILL_COLUMN.match(c)))
    if not found:
        raise ValueError("these metrics have no per-skill columns (test_acc_task_N): they come from "
                         "multitask_parity runs")
    return [c for _, c in found]


def skill_steps(metrics: pd.DataFrame, threshold: float = 0.95) -> pd.DataFrame:
    """For every model and skill, the first logged step with test accuracy on that skill >= threshold.

    Returns:
        One row per (model, skill): model, skill (its index, which is also its frequency rank under
        the Zipf distribution: skill 0 is the most frequent), step (NaN if never learned).
    """
    rows = []
    for model, part in metrics.sort_values("step").groupby("model"):
        for skill, column in enumerate(skill_columns(metrics)):
            hit = part.loc[part[column] >= threshold, "step"]
            rows.append({"model": model, "skill": skill, "step": float(hit.iloc[0]) if len(hit) else np.nan})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PowerLaw:
    """y = prefactor * x^(-exponent), fitted in log-log space, with a bootstrap interval on the exponent."""

    exponent: float
    prefactor: float
    exponent_low: float  # 2.5th percentile over the bootstrap fits
    exponent_high: float  # 97.5th percentile
    stderr: float  # standard deviation of the bootstrap exponents

    def __call__(self, x):
        return self.prefactor * np.asarray(x, np.float64) ** (-self.exponent)


def _fit(log_x: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(log_x, log_y, 1)
    return -slope, float(np.exp(intercept))


def fit_power_law(x, y, n_boot: int = 1000, seed: int = 0) -> PowerLaw:
    """Least squares of log y on log x (x, y > 0), resampling the points n_boot times for the interval.

    Raises:
        ValueError: fewer than 3 positive points, or all x equal.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(np.log(x)) == 0:
        raise ValueError(f"a power-law fit needs at least 3 positive points at different x (got {len(x)})")
    exponent, prefactor = _fit(np.log(x), np.log(y))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(x), len(x))
        if np.ptp(np.log(x[pick])) > 0:
            boot.append(_fit(np.log(x[pick]), np.log(y[pick]))[0])
    boot = np.asarray(boot)
    return PowerLaw(float(exponent), prefactor, float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)),
                    float(boot.std()))
