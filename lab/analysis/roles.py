"""Weight-based neuron roles (Gurnee et al. 2024): each transformer MLP neuron's output weights read
through the unembedding, and the moments that mark prediction and suppression neurons.

A neuron whose vocabulary projection W_out[n] @ W_U has a heavy right tail (high kurtosis, positive
skew) raises the logits of a few classes (a prediction neuron); a heavy left tail (negative skew)
lowers a few (a suppression neuron).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lab.analysis.target import params_and_spec
from lab.config import ModelConfig, Spec


def _vocab_projection(params: dict, model_cfg: ModelConfig, layer: int | None = None) -> np.ndarray:
    """W_out @ W_U of one block's MLP, [F, C] (default: the last block, which writes to the readout).

    The final LayerNorm (when the model has one) is left out, as is usual for this direct reading.
    """
    if model_cfg.kind != "transformer":
        raise ValueError("vocab_projection reads a transformer's MLP output weights; this model is an MLP")
    layer = model_cfg.n_layers - 1 if layer is None else layer
    return np.asarray(params[f"block_{layer}_mlp"]["W_out"], np.float64) @ np.asarray(params["W_U"], np.float64)


def _moments(x_FxC: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centred = x_FxC - x_FxC.mean(axis=1, keepdims=True)
    var = np.mean(np.square(centred), axis=1)
    safe = np.where(var > 0, var, 1.0)
    skew = np.mean(centred**3, axis=1) / safe**1.5
    kurtosis = np.mean(centred**4, axis=1) / safe**2  # 3 for a Gaussian
    return skew, kurtosis


def _neuron_roles(params: dict, model_cfg: ModelConfig, layer: int | None = None,
                 kurtosis_threshold: float = 10.0) -> pd.DataFrame:
    """One row per neuron: skew and kurtosis of its vocabulary projection, top class, and its role.

    role is "prediction" (kurtosis above the threshold, positive skew), "suppression" (above the
    threshold, negative skew) or "" (neither).
    """
    proj_FxC = _vocab_projection(params, model_cfg, layer)
    skew, kurtosis = _moments(proj_FxC)
    heavy = kurtosis > kurtosis_threshold
    role = np.where(heavy & (skew > 0), "prediction", np.where(heavy & (skew < 0), "suppression", ""))
    return pd.DataFrame({"neuron": np.arange(len(skew)), "skew": skew, "kurtosis": kurtosis,
                         "top_class": proj_FxC.argmax(axis=1), "bottom_class": proj_FxC.argmin(axis=1),
                         "role": role})


def vocab_projection(model: Any, spec: Spec | None = None, *, layer: int | None = None) -> np.ndarray:
    """W_out @ W_U of one block's MLP, [F, C] (default: the last block); `run.model(i)` or params with a spec."""
    params, spec = params_and_spec(model, spec)
    return _vocab_projection(params, spec.model, layer)


def neuron_roles(model: Any, spec: Spec | None = None, *, layer: int | None = None,
                 kurtosis_threshold: float = 10.0) -> pd.DataFrame:
    """One row per neuron of a transformer block's MLP: skew and kurtosis of its vocabulary projection, top and
    bottom class, and its role ("prediction", "suppression" or "")."""
    params, spec = params_and_spec(model, spec)
    return _neuron_roles(params, spec.model, layer, kurtosis_threshold)
