"""The PAIR explorable's analyses: the 5-neuron circle construction and sparse parity's pruning.

(The periodicity of an MLP's input weights is `lab.analysis.embedding_weights` with
`frequency_norms` per neuron.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


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
