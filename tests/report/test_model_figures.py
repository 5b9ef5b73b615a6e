"""lab.report.model_figures: one-model figures draw the spectra, neurons, measures and trajectories given."""

from __future__ import annotations

import matplotlib.colors
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.report import model_figures
from tests.helpers import lines_by_label


def _same_color(a, b) -> bool:
    return matplotlib.colors.to_rgba(a) == matplotlib.colors.to_rgba(b)


def test_the_fourier_spectrum_shows_each_steps_share_of_the_non_constant_norm():
    steps = [0, 10, 100]
    norms_SxK = np.array([[9.0, 1, 1, 1, 1, 1],   # k = 0 is left out, whatever its size
                          [0.5, 1, 2, 1, 1, 1],
                          [5.0, 0, 3, 0, 4, 0]])
    fig = model_figures.plot_fourier_spectrum(steps, norms_SxK, [2, 4], 1.0, title="tiny, model 1")
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # the heatmap and its colour bar
    ax = fig.axes[0]
    image = np.asarray(ax.images[0].get_array())
    assert image.shape == (5, 3)  # frequencies 1..5 up, one column per saved step
    np.testing.assert_allclose(image.sum(axis=0), 1.0)
    np.testing.assert_allclose(image[:, 0], 0.2)
    np.testing.assert_allclose(image[:, 2], [0, 9 / 25, 0, 16 / 25, 0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "10", "100"]
    ticks = {t.get_text(): t for t in ax.get_yticklabels()}
    assert set(ticks) == {"1", "2", "3", "4", "5"}
    assert {k for k, t in ticks.items() if t.get_fontweight() == "bold"} == {"2", "4"}  # the key frequencies
    assert all(_same_color(ticks[k].get_color(), "tab:blue") for k in ("2", "4"))
    assert "tiny, model 1" in ax.get_title() and "final key frequencies: 2, 4 (100% of the norm)" in ax.get_title()


def test_a_long_run_labels_a_subset_of_its_steps_and_no_key_frequency_reads_none():
    steps = list(range(0, 400, 10))
    fig = model_figures.plot_fourier_spectrum(steps, np.ones((40, 6)), [], 0.0, title="t")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "0" and 2 <= len(labels) <= 20 and set(labels) <= {str(s) for s in steps}
    assert np.asarray(ax.images[0].get_array()).shape == (5, 40)
    assert "final key frequencies: none (0% of the norm)" in ax.get_title()


def test_neuron_frequencies_draw_one_bar_per_frequency_with_the_key_ones_coloured():
    counts = np.array([3, 0, 5, 1, 0, 2])  # index 0 (no frequency) is not drawn
    fraction = np.array([0.95, 0.9, 0.2, 0.85, 0.5, 0.99, 0.7, 0.6])
    fig = model_figures.plot_neuron_frequencies(counts, fraction, [2, 5], title="tiny, model 1, step 40")
    ax_bar, ax_hist = fig.axes
    bars = ax_bar.patches
    assert [b.get_height() for b in bars] == [0, 5, 1, 0, 2]
    assert [round(b.get_x() + b.get_width() / 2) for b in bars] == [1, 2, 3, 4, 5]
    key = [_same_color(b.get_facecolor(), "tab:orange") for b in bars]
    assert key == [False, True, False, False, True]
    assert "(8 neurons)" in ax_bar.get_title()
    assert sum(p.get_height() for p in ax_hist.patches) == len(fraction) and len(ax_hist.patches) == 20
    assert f"median {np.median(fraction):.2f}" in ax_hist.get_title()
    assert fig.get_suptitle() == "tiny, model 1, step 40"


def _progress_table() -> pd.DataFrame:
    steps = np.array([0, 10, 100, 1000])
    return pd.DataFrame({"step": steps, "train_loss": [2.0, 1.0, 0.0, 0.0], "test_loss": [2.0, 2.5, 1.0, 0.1],
                         "restricted_loss": [2.0, 1.5, 0.5, 0.05], "excluded_loss": [2.0, 1.0, 3.0, 4.0],
                         "gini": [0.1, 0.2, 0.5, 0.8], "sum_sq_weights": [50.0, 60.0, 30.0, 10.0]})


def test_progress_measures_draw_the_four_losses_and_the_cleanup_after_step_zero():
    fig = model_figures.plot_progress_measures(_progress_table(), [3, 4], title="tiny, model 1")
    ax_loss, ax_gini, ax_sq = fig.axes
    losses = lines_by_label(ax_loss)
    assert len(losses) == 4 and {"train loss", "test loss"} <= set(losses)
    assert any(label.startswith("restricted loss") for label in losses)
    assert any(label.startswith("excluded loss") for label in losses)
    for line in losses.values():
        np.testing.assert_array_equal(line.get_xdata(), [10, 100, 1000])  # step 0 has no place on a log axis
    np.testing.assert_allclose(losses["train loss"].get_ydata(), [1.0, 1e-12, 1e-12])  # zero losses stay drawable
    np.testing.assert_allclose(lines_by_label(ax_gini)["Gini of embedding Fourier norms"].get_ydata(), [0.2, 0.5, 0.8])
    np.testing.assert_allclose(lines_by_label(ax_sq)["sum of squared weights"].get_ydata(), [60.0, 30.0, 10.0])
    assert "key frequencies 3, 4" in ax_loss.get_title()
    assert ax_loss.get_xscale() == "log" and ax_loss.get_yscale() == "log"
    assert fig.get_suptitle().startswith("tiny, model 1: progress measures")


def test_progress_measures_mark_the_generalization_step_only_when_there_is_one():
    fig = model_figures.plot_progress_measures(_progress_table(), [3], title="t", generalized_step=300.0)
    for ax in fig.axes[:2]:
        mark = lines_by_label(ax)["test acc >= 0.95 (step 300)"]
        assert list(mark.get_xdata()) == [300.0, 300.0]
    never = model_figures.plot_progress_measures(_progress_table(), [3], title="t")
    assert not any("test acc" in label for ax in never.axes for label in lines_by_label(ax))


def test_trajectory_pca_draws_each_model_with_its_start_and_end_coloured_by_label():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(4, 3, 2))  # 4 saved steps, 3 models
    labels = ["lr=0.01", "lr=0.01", "lr=0.03"]
    fig = model_figures.plot_trajectory_pca(coords, np.array([0.4, 0.25]), [0, 10, 20, 40], labels,
                                            title="tiny: 3 models", legend_title="lr")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 3 * 3  # path, start and end per model
    for m in range(3):
        path, start, end = lines[3 * m: 3 * m + 3]
        np.testing.assert_allclose(path.get_xdata(), coords[:, m, 0])
        np.testing.assert_allclose(path.get_ydata(), coords[:, m, 1])
        assert (start.get_xdata()[0], start.get_ydata()[0]) == (coords[0, m, 0], coords[0, m, 1])
        assert (end.get_xdata()[0], end.get_ydata()[0]) == (coords[-1, m, 0], coords[-1, m, 1])
    assert _same_color(lines[0].get_color(), lines[3].get_color())  # the two lr=0.01 models
    assert not _same_color(lines[0].get_color(), lines[6].get_color())
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["lr=0.01", "lr=0.03", "step 0", "step 40"]
    assert legend.get_title().get_text() == "lr"
    assert ax.get_xlabel() == "PC1 (40.0% of variance)" and ax.get_ylabel() == "PC2 (25.0% of variance)"
    assert ax.get_title().startswith("tiny: 3 models") and "the 4 saved steps" in ax.get_title()


def _parity_metrics() -> pd.DataFrame:
    return pd.DataFrame({"step": [40, 0, 10, 20], "train_loss": [0.05, 0.7, 0.6, 0.8],
                         "test_acc": [1.0, 0.5, 0.5, 0.6]})


def test_parity_pruning_draws_the_relevant_share_against_the_uniform_one():
    bump = {"generalized_step": 40.0, "bump_step": 20.0, "bump_ratio": 1.3}
    fig = model_figures.plot_parity_pruning([0, 10, 20, 40], [0.1, 0.2, 0.5, 0.9], _parity_metrics(), bump, k=2,
                                            n_bits=8, title="parity, model 0")
    ax_share, ax_loss, ax_acc = fig.axes
    share = lines_by_label(ax_share)
    relevant = share["share of squared weight on the 2 relevant bits"]
    np.testing.assert_array_equal(relevant.get_xdata(), [10, 20, 40])
    np.testing.assert_allclose(relevant.get_ydata(), [0.2, 0.5, 0.9])
    np.testing.assert_allclose(share["uniform share (2/8)"].get_ydata(), [0.25, 0.25])
    loss = lines_by_label(ax_loss)
    np.testing.assert_array_equal(loss["train loss"].get_xdata(), [10, 20, 40])  # sorted, step 0 left out
    np.testing.assert_allclose(loss["train loss"].get_ydata(), [0.6, 0.8, 0.05])
    np.testing.assert_allclose(lines_by_label(ax_acc)["test accuracy"].get_ydata(), [0.5, 0.6, 1.0])
    assert list(loss["train loss bump x1.30 (step 20)"].get_xdata()) == [20.0, 20.0]
    assert "test acc >= 0.95 (step 40)" in share and "test acc >= 0.95 (step 40)" in loss
    assert fig.get_suptitle().startswith("parity, model 0: sparse parity")


def test_parity_pruning_marks_no_bump_and_no_generalization_when_there_were_none():
    bump = {"generalized_step": np.nan, "bump_step": 20.0, "bump_ratio": 1.0}
    fig = model_figures.plot_parity_pruning([0, 10, 20, 40], [0.1, 0.2, 0.2, 0.2], _parity_metrics(), bump, k=3,
                                            n_bits=12, title="t")
    labels = [label for ax in fig.axes for label in lines_by_label(ax)]
    assert not any("bump" in label or "test acc >=" in label for label in labels)
    assert "uniform share (3/12)" in labels
