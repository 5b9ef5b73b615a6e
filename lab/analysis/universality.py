"""Universal neurons (Gurnee et al. 2024): which neurons of models that differ only by seed compute
the same function of the input, measured by the Pearson correlation of their activations.

    tables = [activation_table(run.params(m), model_cfg, task_cfg, x) for m in seed_models]   # [N, F] each
    out = universality(tables, n_rotations=10)          # max correlations, rotation baseline, universal mask
    families = families_by_frequency(tables[0], p, out["universal"][0])                      # modular tasks

Everything is computed from the first and second moments of the stacked activations, accumulated
over row chunks in float64, so N can be large: a model's neurons are correlated with every neuron of
each other model (`neuron_correlations`), and the baseline replaces the other model's neuron basis
by a random rotation of it, whose correlations follow from the same covariance (cov(a, b R) =
cov(a, b) R), without another pass over the inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import pandas as pd

from lab.analysis.fourier import fourier_2d, neuron_frequencies
from lab.errors import LabError

CONSTANT_TOL = 1e-10  # a neuron whose variance is below this share of its mean square counts as constant


def _shifted_chunks(tables: list[Any], chunk: int) -> Iterator[np.ndarray]:
    """Row chunks [rows, sum F] float64 of the side-by-side tables, minus the first chunk's mean."""
    n = tables[0].shape[0]
    shift_D = None
    for start in range(0, n, chunk):
        c_RxD = np.concatenate([np.asarray(t[start:start + chunk], np.float64) for t in tables], axis=1)
        if shift_D is None:  # shifting near the mean keeps the one-pass sums free of cancellation
            shift_D = c_RxD.mean(axis=0)
        yield c_RxD - shift_D[None], shift_D


def _check_tables(tables: list[Any], chunk: int) -> None:
    """Raise LabError unless the tables are 2-D with the same rows."""
    if chunk < 1:
        raise LabError(f"chunk must be at least 1 (got {chunk})")
    shapes = [np.shape(t) for t in tables]
    if any(len(s) != 2 for s in shapes) or len({s[0] for s in shapes}) != 1 or shapes[0][0] < 2:
        raise LabError(f"activation tables must be [N, F] with the same N >= 2 inputs (got shapes {shapes})")


def _std(var_D: np.ndarray, mean_D: np.ndarray) -> np.ndarray:
    """Standard deviations, 0 for constant neurons (variance negligible against the mean square)."""
    alive_D = var_D > CONSTANT_TOL * (var_D + np.square(mean_D)) + 1e-300
    return np.where(alive_D, np.sqrt(np.maximum(var_D, 0.0)), 0.0)


def _corr(cov_FxG: np.ndarray, sd_F: np.ndarray, sd_G: np.ndarray) -> np.ndarray:
    """cov / (sd_a sd_b), 0 where either neuron is constant."""
    inv_F = np.where(sd_F > 0, 1.0 / np.where(sd_F > 0, sd_F, 1.0), 0.0)
    inv_G = np.where(sd_G > 0, 1.0 / np.where(sd_G > 0, sd_G, 1.0), 0.0)
    return cov_FxG * inv_F[:, None] * inv_G[None, :]


def covariance(tables: list[Any], chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the side-by-side columns of several activation tables, in one streamed pass.

    Args:
        tables: [N, F_i] arrays (numpy or jax) over the same N inputs.
        chunk: rows per step.

    Returns:
        (mean_D, cov_DxD) float64 with D = sum F_i; the covariance divides by N.
    """
    _check_tables(tables, chunk)
    n = tables[0].shape[0]
    d = sum(t.shape[1] for t in tables)
    sum_D, cross_DxD, shift_D = np.zeros(d), np.zeros((d, d)), np.zeros(d)
    for c_RxD, shift_D in _shifted_chunks(tables, chunk):
        sum_D += c_RxD.sum(axis=0)
        cross_DxD += c_RxD.T @ c_RxD
    m_D = sum_D / n
    return shift_D + m_D, cross_DxD / n - np.outer(m_D, m_D)


def neuron_correlations(acts_a_NxF: Any, acts_b_NxG: Any, chunk: int = 4096) -> np.ndarray:
    """Pearson correlation of every neuron of a with every neuron of b, streamed over the inputs.

    Sums, sums of squares and cross-products are accumulated in float64 over row chunks.

    Args:
        acts_a_NxF: activations [N, F] of one model (e.g. `activation_table`).
        acts_b_NxG: activations [N, G] of another model over the same inputs.
        chunk: rows per step.

    Returns:
        corr_FxG float64 in [-1, 1]; 0 where either neuron is constant over the inputs.
    """
    _check_tables([acts_a_NxF, acts_b_NxG], chunk)
    n, f = acts_a_NxF.shape
    s_D, sq_D, cross_FxG, shift_D = 0.0, 0.0, 0.0, None
    for c_RxD, shift_D in _shifted_chunks([acts_a_NxF, acts_b_NxG], chunk):
        s_D = s_D + c_RxD.sum(axis=0)
        sq_D = sq_D + np.square(c_RxD).sum(axis=0)
        cross_FxG = cross_FxG + c_RxD[:, :f].T @ c_RxD[:, f:]
    m_D = s_D / n
    sd_D = _std(sq_D / n - np.square(m_D), shift_D + m_D)
    cov_FxG = cross_FxG / n - np.outer(m_D[:f], m_D[f:])
    return np.clip(_corr(cov_FxG, sd_D[:f], sd_D[f:]), -1.0, 1.0)


def best_matches(corr_FxG: Any) -> tuple[np.ndarray, np.ndarray]:
    """For each neuron of a (row), its most correlated neuron of b and that correlation.

    Args:
        corr_FxG: correlations [F, G] (`neuron_correlations`); NaN entries are ignored.

    Returns:
        (match_F int indices into G, corr_F the correlations).
    """
    corr_FxG = np.asarray(corr_FxG, np.float64)
    filled_FxG = np.where(np.isnan(corr_FxG), -np.inf, corr_FxG)
    match_F = np.argmax(filled_FxG, axis=1)
    return match_F, np.take_along_axis(corr_FxG, match_F[:, None], axis=1)[:, 0]


def random_rotations(key: jax.Array, n: int, dim: int) -> np.ndarray:
    """n random orthogonal matrices [n, dim, dim] float64, uniform (Haar): QR of Gaussians with signs fixed."""
    g_NxDxD = np.asarray(jax.random.normal(key, (n, dim, dim)), np.float64)
    q_NxDxD, r_NxDxD = np.linalg.qr(g_NxDxD)
    sign_NxD = np.sign(np.diagonal(r_NxDxD, axis1=1, axis2=2))
    return q_NxDxD * np.where(sign_NxD == 0, 1.0, sign_NxD)[:, None, :]


def _max_corr_to_rotated(cov_DxD: np.ndarray, sd_D: np.ndarray, j: int, f: int, rot_FxF: np.ndarray) -> np.ndarray:
    """Each neuron's max correlation to model j's neurons rotated by rot (columns b R), [D]."""
    block = slice(j * f, (j + 1) * f)
    cov_DxF = cov_DxD[:, block] @ rot_FxF
    var_F = np.sum((cov_DxD[block, block] @ rot_FxF) * rot_FxF, axis=0)  # diag(R^T C_jj R)
    return _corr(cov_DxF, sd_D, _std(var_F, np.zeros_like(var_F))).max(axis=1)


def universality(tables: list[Any], n_rotations: int = 10, key: jax.Array | None = None, percentile: float = 99.0,
                 chunk: int = 2048, rotations: Any = None, excess_cut: float = 0.5) -> dict[str, Any]:
    """Per-neuron max correlation to each other seed's neurons, a random-rotation baseline, universal neurons.

    A neuron of model i is universal when its mean (over the other models j) max correlation to
    j's neurons is above `percentile` of the baseline distribution: the same statistic with each
    j's neuron basis replaced by a random rotation of it (pooled over models, neurons and rotations).
    Correlations are signed (a neuron and its negation are not a match); constant neurons get 0.

    Args:
        tables: M >= 2 activation tables [N, F] over the same inputs (`activation_table`), one per seed.
        n_rotations: random rotations per model for the baseline.
        key: a PRNG key for the rotations (default jax.random.key(0)).
        percentile: the baseline percentile a universal neuron's mean max correlation must pass.
        chunk: rows per step of the streamed covariance.
        rotations: optional [n_rotations, M, F, F] orthogonal matrices to use instead of random ones.
        excess_cut: Gurnee et al.'s cut on the excess correlation, for "universal_by_excess".

    Returns:
        A dict of numpy arrays:
        - "max_corr" [M, M, F]: max_corr[i, j, n] is neuron n of i's max correlation to j's neurons
          (NaN on i = j); "best_match" [M, M, F] the matching neuron of j (-1 on i = j);
        - "mean_max_corr" [M, F]: the mean over j != i;
        - "baseline_max_corr" [R, M, M, F] and "baseline_mean_max_corr" [R, M, F]: the same against
          rotated models; "excess" [M, F]: mean_max_corr minus the baseline's mean over rotations;
        - "threshold": the baseline percentile; "universal" [M, F] bool; "fraction_universal": the share
          of universal neurons over all models, and "fraction_universal_per_model" [M];
        - "universal_by_excess" [M, F] bool and "fraction_universal_by_excess": the paper's criterion,
          excess > excess_cut.
    """
    _check_tables(tables, chunk)
    n_models = len(tables)
    widths = {t.shape[1] for t in tables}
    if n_models < 2 or len(widths) != 1:
        raise LabError(f"universality needs at least 2 tables of the same width (got {n_models} of widths {widths})")
    f = widths.pop()
    mean_D, cov_DxD = covariance(tables, chunk)
    sd_D = _std(np.diagonal(cov_DxD).copy(), mean_D)
    corr_MxFxMxF = np.clip(_corr(cov_DxD, sd_D, sd_D), -1.0, 1.0).reshape(n_models, f, n_models, f)
    other_MxM = ~np.eye(n_models, dtype=bool)
    max_corr_MxMxF = np.where(other_MxM[:, :, None], corr_MxFxMxF.max(axis=3).transpose(0, 2, 1), np.nan)
    best_MxMxF = np.where(other_MxM[:, :, None], corr_MxFxMxF.argmax(axis=3).transpose(0, 2, 1), -1)
    mean_max_MxF = np.nanmean(max_corr_MxMxF, axis=1)

    if rotations is None:
        key = jax.random.key(0) if key is None else key
        rot_RxMxFxF = random_rotations(key, n_rotations * n_models, f).reshape(n_rotations, n_models, f, f)
    else:
        rot_RxMxFxF = np.asarray(rotations, np.float64)
        if rot_RxMxFxF.ndim != 4 or rot_RxMxFxF.shape[1:] != (n_models, f, f):
            raise LabError(f"rotations must be [R, {n_models}, {f}, {f}] (got {rot_RxMxFxF.shape})")
    n_rot = rot_RxMxFxF.shape[0]
    base_RxMxMxF = np.full((n_rot, n_models, n_models, f), np.nan)
    for r in range(n_rot):
        for j in range(n_models):  # one [D, F] x [F, F] product per rotated model: every i at once
            max_D = _max_corr_to_rotated(cov_DxD, sd_D, j, f, rot_RxMxFxF[r, j])
            base_RxMxMxF[r, :, j] = np.where(other_MxM[:, j, None], max_D.reshape(n_models, f), np.nan)
    base_mean_RxMxF = np.nanmean(base_RxMxMxF, axis=2)
    threshold = float(np.percentile(base_mean_RxMxF, percentile)) if n_rot else np.nan
    universal_MxF = mean_max_MxF > threshold
    excess_MxF = mean_max_MxF - (base_mean_RxMxF.mean(axis=0) if n_rot else np.nan)
    return {
        "max_corr": max_corr_MxMxF,
        "best_match": best_MxMxF,
        "mean_max_corr": mean_max_MxF,
        "baseline_max_corr": base_RxMxMxF,
        "baseline_mean_max_corr": base_mean_RxMxF,
        "excess": excess_MxF,
        "threshold": threshold,
        "universal": universal_MxF,
        "fraction_universal": float(universal_MxF.mean()),
        "fraction_universal_per_model": universal_MxF.mean(axis=1),
        "universal_by_excess": excess_MxF > excess_cut,
        "fraction_universal_by_excess": float((excess_MxF > excess_cut).mean()),
    }


def families_by_frequency(acts_NxF: Any, p: int, universal_F: Any = None) -> pd.DataFrame:
    """Neuron families of a modular-arithmetic model: each neuron's dominant Fourier frequency.

    Args:
        acts_NxF: activations over every (a, b) pair, row a * p + b (`activation_table` of `complete_inputs`).
        p: the modulus.
        universal_F: optional bool [F] (a row of `universality(...)["universal"]`).

    Returns:
        One row per neuron: neuron, family (the dominant frequency k >= 1, or 0 for a constant
        neuron), fraction (the share of its non-constant variance that frequency explains) and,
        when given, universal. `df[df.universal].groupby("family").size()` counts universal families.
    """
    acts_NxF = np.asarray(acts_NxF, np.float32)
    if acts_NxF.ndim != 2 or acts_NxF.shape[0] != p * p:
        raise LabError(f"families_by_frequency needs [p * p, F] = [{p * p}, F] activations (got {acts_NxF.shape})")
    dominant_F, fraction_F = neuron_frequencies(fourier_2d(acts_NxF.reshape(p, p, -1), p), p)
    fraction_F = np.asarray(fraction_F)
    table = pd.DataFrame({"neuron": np.arange(acts_NxF.shape[1]),
                          "family": np.where(fraction_F > 0, np.asarray(dominant_F), 0), "fraction": fraction_F})
    return _with_universal(table, universal_F)


def families_by_bits(w_in_IxF: Any, k: int, universal_F: Any = None) -> pd.DataFrame:
    """Neuron families of a parity model: the k input bits each neuron weighs most (largest |W_in|).

    Args:
        w_in_IxF: the first layer's input weights [n_inputs, F] (`params["W_in"]`; rows are input bits).
        k: bits per family (the task's k).
        universal_F: optional bool [F] (a row of `universality(...)["universal"]`).

    Returns:
        One row per neuron: neuron, family (its bits, sorted, as "i,j,l"), bits (a tuple) and
        weight_fraction (the share of the neuron's squared input weight on those bits), and, when given, universal.
    """
    w_IxF = np.asarray(w_in_IxF, np.float64)
    if w_IxF.ndim != 2 or not 1 <= k <= w_IxF.shape[0]:
        raise LabError(f"families_by_bits needs W_in [n_inputs, F] and 1 <= k <= n_inputs (got {w_IxF.shape}, {k})")
    top_FxK = np.sort(np.argsort(-np.abs(w_IxF), axis=0, kind="stable")[:k].T, axis=1)
    sq_IxF = np.square(w_IxF)
    kept_F = np.take_along_axis(sq_IxF.T, top_FxK, axis=1).sum(axis=1)
    total_F = sq_IxF.sum(axis=0)
    table = pd.DataFrame({"neuron": np.arange(w_IxF.shape[1]),
                          "family": [",".join(map(str, row)) for row in top_FxK],
                          "bits": [tuple(int(b) for b in row) for row in top_FxK],
                          "weight_fraction": np.where(total_F > 0, kept_F / np.where(total_F > 0, total_F, 1.0), 0.0)})
    return _with_universal(table, universal_F)


def _with_universal(table: pd.DataFrame, universal_F: Any) -> pd.DataFrame:
    """The table with a `universal` column when a mask is given."""
    if universal_F is not None:
        universal_F = np.asarray(universal_F, bool)
        if universal_F.shape != (len(table),):
            raise LabError(f"universal must be a bool mask of shape ({len(table)},) (got {universal_F.shape})")
        table["universal"] = universal_F
    return table
