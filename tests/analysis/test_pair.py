"""lab.analysis.pair: the PAIR analyses on hand-built models, the circle construction and the loss bump."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab.analysis import pair


def _circle_model(n: int, p: int, jitter: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = np.pi * np.arange(n) / n + jitter * rng.normal(size=n)
    w_in = np.stack([np.cos(theta), np.sin(theta)])  # [2, F]
    c = np.arange(p)
    w_out = np.cos(2 * np.pi * c[None] / p - 2 * theta[:, None])  # output rotates twice as fast
    return {"W_in": w_in, "W_out": w_out}, theta


def test_the_exact_circle_construction_is_recognised():
    params, theta = _circle_model(5, 67)
    geo = pair.circle_neurons(params)
    assert geo["norm_spread"] < 1e-9
    assert geo["spacing_error_doubled"] < 1e-9  # 2 theta evenly spread over the whole circle
    assert geo["rotation_coherence"] > 0.999
    np.testing.assert_allclose(np.mod(geo["output_phase"] - 2 * theta + 1, 2 * np.pi) - 1, 0, atol=1e-9)


def test_a_random_model_is_not():
    rng = np.random.default_rng(1)
    geo = pair.circle_neurons({"W_in": rng.normal(size=(2, 5)), "W_out": rng.normal(size=(5, 67))})
    assert geo["norm_spread"] > 0.05 and geo["spacing_error_doubled"] > 0.2
    jittered = pair.circle_neurons(_circle_model(5, 67, jitter=0.3)[0])
    assert 0.05 < jittered["spacing_error_doubled"] and jittered["rotation_coherence"] > 0.999


def test_relevant_weight_share():
    w = np.ones((30, 8))
    assert abs(pair.relevant_weight_share(w, 3) - 0.1) < 1e-12
    w[3:] *= 0.01  # distractors pruned
    assert pair.relevant_weight_share(w, 3) > 0.99


def test_loss_bump_is_found_before_generalizing():
    steps = np.arange(0, 1000, 100)
    train = np.array([1.0, 0.1, 0.01, 0.005, 0.02, 0.03, 0.01, 0.001, 0.001, 0.001])
    test_acc = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.6, 0.8, 0.97, 1.0, 1.0])
    got = pair.loss_bump_before_generalizing(pd.DataFrame({"step": steps, "train_loss": train, "test_acc": test_acc}))
    assert got["generalized_step"] == 700 and got["bump_step"] == 500 and abs(got["bump_ratio"] - 6.0) < 1e-9
    never = pair.loss_bump_before_generalizing(pd.DataFrame({"step": steps, "train_loss": train, "test_acc": 0 * test_acc}))
    assert np.isnan(never["bump_ratio"])
