"""lab.analysis.progress: Nanda et al.'s progress measures (Gini, restricted and excluded loss), over saved
steps."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import lab
from lab.analysis import progress
from lab.launch.runner import run_sweep


def test_gini_of_one_hot_and_flat_spectra():
    assert progress.gini(np.eye(1, 50)[0]) > 0.97  # (n - 1) / n for one-hot
    assert abs(progress.gini(np.ones(50))) < 1e-12
    assert 0.2 < progress.gini(np.arange(50.0)) < 0.5


def test_restricted_loss_equals_full_loss_for_a_model_made_of_the_kept_frequencies():
    p, freqs = 13, [2, 5]
    a, b, c = np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")
    logits = sum(3.0 * np.cos(2 * np.pi * k * (a + b - c) / p) for k in freqs) + 0.5 * np.sin(c)  # + a class bias
    logits_NxC = jnp.asarray(logits.reshape(p * p, p), jnp.float32)
    y_N = jnp.asarray(((a[:, :, 0] + b[:, :, 0]) % p).ravel())
    ones = jnp.ones(p * p)
    restricted, excluded = progress.split_logits(logits_NxC, p, freqs)
    np.testing.assert_allclose(restricted, logits_NxC, atol=1e-4)
    full = float(progress._loss(logits_NxC, y_N, ones))
    assert abs(float(progress._loss(restricted, y_N, ones)) - full) < 1e-4
    # Without its key frequencies only the class bias is left: no better than chance.
    bias_NxC = np.broadcast_to(0.5 * np.sin(np.arange(p))[None], (p * p, p))
    np.testing.assert_allclose(excluded, bias_NxC, atol=1e-4)
    assert float(progress._loss(excluded, y_N, ones)) >= np.log(p) - 1e-3
    # Keeping the wrong frequencies loses everything, too.
    wrong, _ = progress.split_logits(logits_NxC, p, [1, 3])
    assert float(progress._loss(wrong, y_N, ones)) > full + 1.0


def test_progress_over_saved_steps(spec_factory, tmp_path):
    run = lab.open(run_sweep(spec_factory(seeds=1), tmp_path / "run", progress=False))
    table = progress.progress_over_steps(run, model=0)
    assert list(table.step) == run.steps
    for column in ("restricted_loss", "excluded_loss", "gini", "sum_sq_weights", "train_loss", "test_loss"):
        assert np.isfinite(table[column]).all(), column
    # The train loss measured here on the grid is the one the sweep logged at the same step.
    logged = run.metrics.set_index("step").loc[run.steps[-1], "train_loss"]
    np.testing.assert_allclose(table.train_loss.iloc[-1], logged, rtol=1e-4)
    mask = progress.train_mask(run.spec)
    assert mask.sum() == round(0.5 * 121)
