"""The PAIR explorable's analyses: the 5-neuron circle construction and sparse parity's pruning.

(The periodicity of an MLP's input weights is `lab.analysis.embedding_weights` with
`frequency_norms` per neuron.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lab import models
from lab.analysis.fourier import _embedding_weights, fourier_basis
from lab.analysis.target import params_and_spec
from lab.config import Spec


def _circular_spacing_error(angles: np.ndarray, period: float) -> float:
    """Std over mean of the gaps between sorted angles on a circle of the given period (0: even)."""
    a = np.sort(np.mod(angles, period))
    gaps = np.diff(np.concatenate([a, a[:1] + period]))
    return float(np.std(gaps) / np.mean(gaps))


def circle_neurons(params: dict[str, Any]) -> dict[str, Any]:
    """Geometry of an MLP on the fixed circle embedding (combine "sum": W_in [2, F], W_out [F, C]).

    Each neuron reads the 2-d vector u_i = W_in[:, i] (angle theta_i, norm r_i). Returns the
    angles and norms, the norm spread std(r) / mean(r), the spacing error of the angles around
    the circle (0 when evenly spaced; also for 2 theta, the spacing that matters when u and -u
    act alike), each neuron's output phase (the phase of frequency 1 of its W_out row over the
    classes) and the coherence |mean exp(i (phase - 2 theta))|: 1 when the output rotates
    exactly twice as fast as the input, 0 when unrelated.
    """
    w_in = np.asarray(params["W_in"], np.float64)
    w_out = np.asarray(params["W_out"], np.float64)
    if w_in.shape[0] != 2:
        raise ValueError(f"circle_neurons needs W_in of shape [2, F] (circle embedding, combine 'sum'); got {w_in.shape}")
    theta = np.arctan2(w_in[1], w_in[0])
    norms = np.hypot(w_in[0], w_in[1])
    phase = np.angle(np.fft.fft(w_out, axis=1)[:, 1].conj())  # W_out[i, c] ~ cos(2 pi c / C - phase_i)
    return {
        "theta": theta,
        "norms": norms,
        "norm_spread": float(np.std(norms) / np.mean(norms)),
        "spacing_error": _circular_spacing_error(theta, 2 * np.pi),
        "spacing_error_doubled": _circular_spacing_error(2 * theta, 2 * np.pi),
        "output_phase": phase,
        "rotation_coherence": float(np.abs(np.mean(np.exp(1j * (phase - 2 * theta))))),
    }


def _circle_geometry(params: dict[str, Any], model_cfg, task_cfg) -> dict[str, Any]:
    """`circle_neurons` of an MLP on a fixed circle embedding; a tied readout (the PAIR five-neuron model's
    W_out [F, 2] times the circle's transpose) is multiplied out to its [F, p] map first."""
    w_out = np.asarray(params["W_out"], np.float64)
    if model_cfg.tie_embed:
        w_out = w_out @ np.asarray(models.fixed_embedding(model_cfg, task_cfg), np.float64).T
    return circle_neurons({"W_in": params["W_in"], "W_out": w_out})


def relevant_weight_share(w_in_IxF: Any, k: int) -> float:
    """Share of the first layer's squared weight on the k relevant input bits (the first k rows)."""
    w = np.asarray(w_in_IxF, np.float64)
    return float(np.sum(w[:k] ** 2) / np.sum(w**2))


def relevant_share_over_steps(traj, k: int) -> pd.DataFrame:
    """relevant_weight_share of every model of a trajectory at every saved step."""
    w = traj.params["W_in"]  # [S, M, I, F]
    rows = [{"step": s, "model": m, "relevant_share": relevant_weight_share(w[i, j], k)}
            for i, s in enumerate(traj.steps) for j, m in enumerate(traj.models)]
    return pd.DataFrame(rows)


def loss_bump_before_generalizing(model_metrics: pd.DataFrame, test_threshold: float = 0.95) -> dict[str, float]:
    """The rise of the train loss before a model generalizes (weight decay trading loss for norm).

    Between the lowest train loss reached before generalization and the generalization step,
    the largest ratio train_loss / (lowest loss so far) and the step where it peaks.
    Returns NaNs for a model that never generalizes.
    """
    t = model_metrics.sort_values("step")
    hit = t.index[t.test_acc >= test_threshold]
    if len(hit) == 0:
        return {"generalized_step": np.nan, "bump_step": np.nan, "bump_ratio": np.nan}
    before = t.loc[: hit[0]]
    running_min = before.train_loss.cummin()
    ratio = before.train_loss / running_min
    peak = ratio.idxmax()
    return {"generalized_step": float(t.loc[hit[0], "step"]), "bump_step": float(t.loc[peak, "step"]),
            "bump_ratio": float(ratio.max())}


EXPLORABLE_MIN_COEF = 10.0  # source/grokking/mod-bot/seeds/parse.js: neurons with a DFT peak below this are unassigned


def _explorable_frequencies(params: dict[str, Any], model_cfg, task_cfg,
                           min_coef: float = EXPLORABLE_MIN_COEF) -> dict[str, Any]:
    """Each neuron's frequency as the PAIR explorable assigns it (MLP_Modular_Addition.ipynb cell 38, parse.js).

    The collapsed input weights W_E @ W_in [p, F] in the real Fourier basis (const, cos 1, sin 1, ...); a
    neuron's frequency is that of its largest |coefficient|, counted only when that coefficient exceeds
    min_coef (the page's cut, in the notebook's weight scale).

    Returns:
        {"neuron_freqs": [F] int (0 = the constant), "peaks": [F] float, "freqs": sorted distinct frequencies of
        the counted neurons, "neurons_per_freq": their counts, "unassigned": neurons under the cut}.
    """
    w_PxF = np.asarray(next(iter(_embedding_weights(params, model_cfg, task_cfg).values())), np.float64)
    basis_PxP = np.asarray(fourier_basis(task_cfg.p)[0], np.float64)
    coef_PxF = np.abs(basis_PxP @ w_PxF)
    best_F, peak_F = coef_PxF.argmax(axis=0), coef_PxF.max(axis=0)
    freq_F = (best_F + 1) // 2  # rows 2k - 1, 2k are cos k, sin k; row 0 is the constant
    counted = peak_F > min_coef
    freqs, counts = np.unique(freq_F[counted], return_counts=True)
    return {"neuron_freqs": freq_F, "peaks": peak_F, "freqs": freqs.tolist(), "neurons_per_freq": counts.tolist(),
            "unassigned": int((~counted).sum())}


def circle_geometry(model: Any, spec: Spec | None = None) -> dict[str, Any]:
    """`circle_neurons` of an MLP on a fixed circle embedding (`run.model(i)`, or params with their spec); a
    tied readout (the PAIR five-neuron model's W_out [F, 2] times the circle's transpose) is multiplied out."""
    params, spec = params_and_spec(model, spec)
    return _circle_geometry(params, spec.model, spec.task)


def explorable_frequencies(model: Any, spec: Spec | None = None, *, min_coef: float = EXPLORABLE_MIN_COEF
                           ) -> dict[str, Any]:
    """Each neuron's frequency as the PAIR explorable assigns it (see `_explorable_frequencies`): the collapsed
    input weights in the real Fourier basis, a neuron counted when its largest |coefficient| exceeds min_coef.

    Returns:
        {"neuron_freqs", "peaks", "freqs", "neurons_per_freq", "unassigned"}.
    """
    params, spec = params_and_spec(model, spec)
    return _explorable_frequencies(params, spec.model, spec.task, min_coef)
