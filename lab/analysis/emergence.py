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
    rows, columns = [], skill_columns(metrics)
    for model, part in metrics.sort_values("step").groupby("model"):
        for skill, column in enumerate(columns):
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


@dataclass(frozen=True)
class JointPowerLaw:
    """y = prefactor * prod_v x_v^(-exponent_v), fitted in log space, with bootstrap intervals.

    The product form is what a scaling law looks like along each axis while the others are not the
    bottleneck; an irreducible loss or a hand-over between axes (Kaplan et al.'s L(N, D)) shows as
    structure in the residuals, so look at `r2` and the fit against the data before trusting it.
    """

    names: tuple[str, ...]
    exponents: np.ndarray  # [V]
    prefactor: float
    exponents_low: np.ndarray  # 2.5th percentile over the bootstrap fits, [V]
    exponents_high: np.ndarray  # 97.5th percentile, [V]
    stderr: np.ndarray  # standard deviation of the bootstrap exponents, [V]
    r2: float  # the share of the variance of log y the fit explains
    n_points: int

    def __call__(self, x_NxV) -> np.ndarray:
        log_x_NxV = np.log(np.asarray(x_NxV, np.float64).reshape(-1, len(self.names)))
        return self.prefactor * np.exp(-log_x_NxV @ self.exponents)

    def describe(self) -> str:
        """One line per variable: its exponent with the 95% interval."""
        return "\n".join(f"{name}: exponent {e:.3f} [{lo:.3f}, {hi:.3f}]" for name, e, lo, hi in
                         zip(self.names, self.exponents, self.exponents_low, self.exponents_high))


def _fit_joint(log_x_NxV: np.ndarray, log_y_N: np.ndarray) -> tuple[np.ndarray, float]:
    design_NxV1 = np.column_stack([log_x_NxV, np.ones(len(log_y_N))])
    coef, *_ = np.linalg.lstsq(design_NxV1, log_y_N, rcond=None)
    return -coef[:-1], float(coef[-1])


def fit_joint_power_law(table: pd.DataFrame, x_columns: list[str], y_column: str, n_boot: int = 1000,
                        seed: int = 0) -> JointPowerLaw:
    """Least squares of log y on the logs of several scale variables at once (parameters, data, steps).

    Args:
        table: one row per observation (e.g. per model and logged step).
        x_columns: the scale variables (each > 0; each must vary, or its exponent is not identified).
        y_column: the quantity that falls with scale (e.g. test_loss; rows with y <= 0 are left out).
        n_boot: bootstrap resamples of the rows for the intervals.
        seed: the bootstrap's seed.

    Raises:
        ValueError: a column is missing or constant, or fewer rows than variables + 2.
    """
    missing = [c for c in (*x_columns, y_column) if c not in table]
    if missing:
        raise ValueError(f"the table has no column(s) {missing}; it has {list(table.columns)}")
    x_NxV = table[list(x_columns)].to_numpy(np.float64)
    y_N = table[y_column].to_numpy(np.float64)
    keep = (x_NxV > 0).all(axis=1) & (y_N > 0) & np.isfinite(y_N) & np.isfinite(x_NxV).all(axis=1)
    log_x, log_y = np.log(x_NxV[keep]), np.log(y_N[keep])
    if len(log_y) < len(x_columns) + 2:
        raise ValueError(f"a joint fit in {len(x_columns)} variables needs at least {len(x_columns) + 2} positive "
                         f"rows (got {len(log_y)})")
    constant = [c for c, spread in zip(x_columns, np.ptp(log_x, axis=0)) if spread == 0]
    if constant:
        raise ValueError(f"{constant} do(es) not vary in the table, so its exponent cannot be fitted")
    exponents, log_c = _fit_joint(log_x, log_y)
    rng = np.random.default_rng(seed)
    boot = np.asarray([_fit_joint(log_x[pick], log_y[pick])[0]
                       for pick in (rng.integers(0, len(log_y), len(log_y)) for _ in range(n_boot))])
    residual = log_y - (log_c - log_x @ exponents)
    r2 = 1.0 - float(np.sum(residual**2) / max(np.sum((log_y - log_y.mean()) ** 2), 1e-300))
    return JointPowerLaw(tuple(x_columns), exponents, float(np.exp(log_c)), np.percentile(boot, 2.5, axis=0),
                         np.percentile(boot, 97.5, axis=0), boot.std(axis=0), r2, len(log_y))
