"""lab.report.neuron_figures: neuron figures draw the correlations, grids, ablations and shares they are given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from lab.analysis.heuristics import FAMILIES
from lab.report import neuron_figures
from tests.helpers import lines_by_label


def _family_table() -> pd.DataFrame:
    """14 families: family f_i has i + 1 neurons, of which (i * 7) % 5 are universal."""
    rows = []
    for i in range(14):
        n_universal = (i * 7) % 5
        rows += [{"family": f"f{i}", "universal": j < n_universal} for j in range(i + 1)]
    return pd.DataFrame(rows).assign(neuron=lambda t: np.arange(len(t)))


def test_universality_draws_neurons_against_the_baseline_and_the_twelve_largest_families():
    rng = np.random.default_rng(0)
    mean_max, baseline = rng.uniform(0.2, 1.0, size=(2, 16)), rng.uniform(0.1, 0.7, size=(10, 2, 16))
    table = _family_table()
    fig = neuron_figures.plot_universality(mean_max, baseline, 0.65, {"percentile": 0.125, "excess": 0.0625}, table,
                                           "dominant frequency", title="tiny: 2 seeds")
    ax, ax_f = fig.axes
    assert len(ax.patches) == 40 + 1  # the baseline's 40 bars and the neurons' outline
    assert list(lines_by_label(ax)["baseline percentile (0.65)"].get_xdata()) == [0.65, 0.65]
    assert ax.get_title() == "12.5% universal (above the line); 6.2% with excess > 0.5"
    all_bars, universal_bars = ax_f.containers
    assert all_bars.get_label() == "all neurons" and universal_bars.get_label() == "universal"
    counts = table.groupby("family").agg(all=("neuron", "size"), universal=("universal", "sum"))
    shown = [t.get_text() for t in ax_f.get_xticklabels()]
    assert len(shown) == 12 and len(all_bars) == len(universal_bars) == 12
    universal = [counts.universal[f] for f in shown]
    assert universal == sorted(universal, reverse=True)  # most universal first
    assert set(counts.index) - set(shown) == {"f0", "f5"}  # the two with no universal neuron and fewest neurons
    assert [b.get_height() for b in all_bars] == [counts["all"][f] for f in shown]
    assert [b.get_height() for b in universal_bars] == universal
    assert ax_f.get_title() == "families by dominant frequency"
    assert fig.get_suptitle() == "tiny: 2 seeds"


def test_neuron_examples_draw_one_grid_per_example_and_blank_the_rest():
    grids = [np.arange(25.0).reshape(5, 5) * (i + 1) for i in range(4)]
    examples = [(g, f"neuron {i}: family {i}") for i, g in enumerate(grids)]
    fig = neuron_figures.plot_neuron_examples(examples, title="tiny, model 1, step 40")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 6 and len(fig.axes) == 6 + 4  # 2 rows of 3, a colour bar per drawn grid
    for ax, (grid, caption) in zip(panels, examples):
        np.testing.assert_array_equal(ax.images[0].get_array(), grid)
        assert ax.get_title() == caption and (ax.get_xlabel(), ax.get_ylabel()) == ("b", "a")
    assert [ax.axison for ax in panels] == [True] * 4 + [False] * 2
    assert fig.get_suptitle() == "tiny, model 1, step 40"


def test_neuron_examples_without_any_example_draw_an_empty_panel():
    fig = neuron_figures.plot_neuron_examples([], title="nothing")
    assert len(fig.axes) == 1 and not fig.axes[0].images and not fig.axes[0].axison


def _curve(accuracy: list[float], k: list[int]) -> pd.DataFrame:
    acc = np.asarray(accuracy)
    return pd.DataFrame({"k": k, "accuracy": acc, "random_accuracy_mean": acc + 0.1,
                         "random_accuracy_p05": acc, "random_accuracy_p95": np.minimum(acc + 0.2, 1.0)})


def test_ablation_curves_draw_each_ranking_beside_random_neurons_and_the_sufficient_set():
    k = [1, 2, 4, 8, 16]
    curves = {"top patching effect": _curve([0.9, 0.7, 0.4, 0.2, 0.1], k),
              "top heuristic score": _curve([0.95, 0.9, 0.8, 0.5, 0.1], k)}
    fig = neuron_figures.plot_ablation_curves(curves, 0.97, 16, (3, 0.88), title="tiny, model 1, step 40")
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    for name, table in curves.items():
        np.testing.assert_array_equal(lines[name].get_xdata(), k)
        np.testing.assert_allclose(lines[name].get_ydata(), table.accuracy)
    np.testing.assert_allclose(lines["random neurons (mean)"].get_ydata(), curves["top patching effect"].accuracy + 0.1)
    assert list(lines["no ablation"].get_ydata()) == [0.97, 0.97]
    assert list(lines["all but the smallest sufficient set (3 neurons, accuracy 0.88)"].get_xdata()) == [13, 13]
    assert len(ax.collections) == 1  # the random band
    assert ax.get_xscale() == "log" and ax.get_title() == "tiny, model 1, step 40"
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {
        "random neurons (5-95%)", "random neurons (mean)", "top patching effect", "top heuristic score", "no ablation",
        "all but the smallest sufficient set (3 neurons, accuracy 0.88)"}
    unmarked = neuron_figures.plot_ablation_curves(curves, 0.97, 16, None, title="t")
    assert not any("sufficient" in label for label in lines_by_label(unmarked.axes[0]))


def _emergence_inputs(shares: dict[str, list[float]]):
    steps = [0, 10, 20, 40]
    table = pd.DataFrame({"step": steps, **{f: shares.get(f, [0.0] * 4) for f in FAMILIES}})
    own = pd.DataFrame({"step": [0, 10, 20, 30, 40], "test_acc": [0.1, 0.2, 0.4, 0.7, 0.9],
                        "train_acc": [0.1, 0.5, 0.9, 1.0, 1.0]})
    ablation = pd.DataFrame({"step": steps, "plain_accuracy": [0.1, 0.3, 0.6, 0.9], "accuracy": [0.1, 0.2, 0.3, 0.4],
                             "mean": [0.1, 0.3, 0.55, 0.85], "p05": [0.05, 0.25, 0.5, 0.8],
                             "p95": [0.15, 0.35, 0.6, 0.9]})
    return table, own, ablation


def test_heuristic_emergence_stacks_only_the_families_that_appear_and_the_ablation_over_training():
    table, own, ablation = _emergence_inputs({"operand range": [0.0, 0.1, 0.3, 0.5], "periodic": [0.0, 0.0, 0.1, 0.2]})
    fig = neuron_figures.plot_heuristic_emergence(table, own, ablation, 2, title="tiny, model 1")
    ax, ax_b, twin = fig.axes
    stacks = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert [c.get_label() for c in stacks] == ["operand range", "periodic"]  # in FAMILIES order, zero ones left out
    accuracy = lines_by_label(twin)
    np.testing.assert_allclose(accuracy["test accuracy"].get_ydata(), own.test_acc)
    np.testing.assert_allclose(accuracy["train accuracy"].get_ydata(), own.train_acc)
    right = lines_by_label(ax_b)
    np.testing.assert_allclose(right["no ablation"].get_ydata(), ablation.plain_accuracy)
    np.testing.assert_allclose(right["2 final top-heuristic neurons ablated"].get_ydata(), ablation.accuracy)
    np.testing.assert_allclose(right["2 random neurons (mean)"].get_ydata(), ablation["mean"])
    assert all(list(line.get_xdata()) == [0, 10, 20, 40] for line in right.values())
    assert ax.get_ylim() == (0, 1) and ax.get_xscale() == "symlog"
    assert fig.get_suptitle() == "tiny, model 1"


@pytest.mark.filterwarnings("error:No artists with labels found")  # no empty legend is drawn
def test_heuristic_emergence_says_so_when_no_neuron_ever_matches():
    table, own, ablation = _emergence_inputs({})
    fig = neuron_figures.plot_heuristic_emergence(table, own, ablation, 1, title="t")
    ax = fig.axes[0]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert [t.get_text() for t in ax.texts] == ["no live neuron matches a heuristic at any checkpoint"]
