"""Ablations of MLP neurons: zero or mean-replace any set of hidden neurons of the last layer and
measure loss and accuracy; the same for random sets of equal size, as the baseline.

    out = ablate_neurons(params, model_cfg, task_cfg, x, y, neurons=[3, 17], mode="mean")
    draws = random_ablations(params, model_cfg, task_cfg, x, y, n_neurons=2, n_draws=100, seed=0)

For an MLP the last hidden layer feeds the readout linearly, so the ablated logits are the
readout of the edited activations; no model code changes. (Transformers: not yet.)
"""

from __future__ import annotations

import numpy as np

from lab import models
from lab.config import ModelConfig, TaskConfig
from lab.train.losses import accuracy, per_example_loss


def _readout(params: dict, post_NxF: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
    """Logits from the last hidden layer's activations (as `lab.models.linen.MLP` reads them out)."""
    if model_cfg.tie_embed:
        return post_NxF @ (np.asarray(params["W_out"]) @ np.asarray(params["W_E"]).T)
    logits_NxC = post_NxF @ np.asarray(params["W_out"])
    return logits_NxC + np.asarray(params["b_out"])[None] if model_cfg.bias else logits_NxC


def hidden_activations(params: dict, model_cfg: ModelConfig, task_cfg: TaskConfig, x) -> np.ndarray:
    """The last hidden layer's activations of an MLP over inputs x, [N, F] float64."""
    if model_cfg.kind != "mlp":
        raise ValueError("neuron ablation is implemented for MLPs; this model is a transformer")
    _, acts = models.apply_with_activations(params, x, model_cfg, task_cfg)
    return np.asarray(acts[f"mlp_post_{model_cfg.depth - 1}"], np.float64)


def _scores(params, post_NxF, model_cfg, task_cfg, y, loss: str) -> dict[str, float]:
    logits_NxC = _readout(params, post_NxF, model_cfg).astype(np.float32)
    return {"loss": float(np.mean(per_example_loss(logits_NxC, np.asarray(y), loss))),
            "accuracy": float(np.mean(accuracy(logits_NxC, np.asarray(y))))}


def ablate_neurons(params: dict, model_cfg: ModelConfig, task_cfg: TaskConfig, x, y, neurons=(),
                   mode: str = "zero", mean_acts=None, loss: str = "cross_entropy") -> dict[str, float]:
    """Loss and accuracy on (x, y) with the given hidden neurons set to 0 or to their mean activation.

    Args:
        neurons: indices of the last hidden layer's neurons to ablate.
        mode: "zero" or "mean".
        mean_acts: [F] activations to use in mean mode (default: their mean over x).
        loss: the loss kind (see `lab.train.losses.per_example_loss`).
    """
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean' (got {mode!r})")
    post_NxF = hidden_activations(params, model_cfg, task_cfg, x)
    idx = np.asarray(list(neurons), np.int64)
    if idx.size:
        fill_F = np.zeros(post_NxF.shape[1]) if mode == "zero" else (
            post_NxF.mean(axis=0) if mean_acts is None else np.asarray(mean_acts, np.float64))
        post_NxF = post_NxF.copy()
        post_NxF[:, idx] = fill_F[idx][None]
    return _scores(params, post_NxF, model_cfg, task_cfg, y, loss)


def random_ablations(params: dict, model_cfg: ModelConfig, task_cfg: TaskConfig, x, y, n_neurons: int,
                     n_draws: int = 100, seed: int = 0, mode: str = "mean", loss: str = "cross_entropy") -> np.ndarray:
    """Accuracy after ablating n_neurons random neurons, for n_draws independent draws, [n_draws]."""
    width = hidden_activations(params, model_cfg, task_cfg, x[:1]).shape[1]
    rng = np.random.default_rng(seed)
    return np.array([ablate_neurons(params, model_cfg, task_cfg, x, y, rng.choice(width, n_neurons, replace=False),
                                    mode=mode, loss=loss)["accuracy"] for _ in range(n_draws)])
