"""lab.report.neuron_report: a run's neuron figures show its seeds, heuristic neurons and ablations, or Skip."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lab.analysis import universality
from lab.report import neuron_report, neurons
from lab.report.build import FIGURES
from lab.report.context import Report
from lab.report.skip import Skip
from tests.helpers import lines_by_label


@pytest.fixture(scope="module")
def report(lr_run):
    return Report(lr_run.path)


def test_the_four_neuron_figures_are_registered_in_index_order():
    files = {"universality.png": neuron_report.universal_neurons, "neuron_examples.png": neuron_report.neuron_examples,
             "ablation_curves.png": neuron_report.ablation_curves,
             "heuristic_emergence.png": neuron_report.heuristic_emergence}
    assert {name: FIGURES[name].draw for name in files} == files
    assert [name for name in FIGURES if name in files] == list(files)


def test_universality_compares_the_representative_model_with_its_seed_sibling(report):
    fig, caption = neuron_report.universal_neurons(report)
    last = report.run.steps[-1]
    assert fig.get_suptitle() == f"{report.spec.name}: 2 seeds of {report.label}, step {last}"
    _, x, _ = report.neuron_inputs()
    seeds = neurons.seed_siblings(report.grid, report.model)
    out = universality.universality(neurons.tables_of(report.run, seeds, x))
    ax, ax_f = fig.axes
    assert ax.get_title().startswith(f"{out['fraction_universal']:.1%} universal")
    assert f"universal ({out['fraction_universal']:.1%};" in caption and "over 2 seeds" in caption
    assert list(lines_by_label(ax)[f"baseline percentile ({out['threshold']:.2f})"].get_xdata()) == [out["threshold"]] * 2
    all_bars, universal_bars = ax_f.containers
    width = report.spec.model.width
    assert sum(b.get_height() for b in all_bars) == width  # every neuron of the first seed in one family
    assert sum(b.get_height() for b in universal_bars) == out["universal"][0].sum()
    assert ax_f.get_title() == "families by dominant frequency" and "(dominant frequency)" in caption


def test_universality_is_skipped_when_no_model_differs_only_by_seed(lr_run):
    alone = Report(lr_run.path)
    alone.grid = alone.grid.assign(**{"train.lr": [0.01, 0.02, 0.03, 0.04]})  # every model its own setting
    with pytest.raises(Skip, match="no other model differs from the representative one only by seed"):
        neuron_report.universal_neurons(alone)


def test_neuron_examples_show_the_best_live_neuron_of_each_family_over_the_grid(report):
    fig, caption = neuron_report.neuron_examples(report)
    table, acts = report.heuristics(report.run.steps[-1])
    p = report.spec.task.p
    live = table[~table.dead]
    panels = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(panels) == live.family.nunique() >= 1
    shown = set()
    for ax in panels:
        neuron, family = re.match(r"neuron (\d+): (.+)\n", ax.get_title()).groups()
        neuron = int(neuron)
        assert table.family[neuron] == family and not table.dead[neuron]
        assert table.score[neuron] == live[live.family == family].score.max()
        np.testing.assert_allclose(ax.images[0].get_array(), acts[:, neuron].reshape(p, p))  # row a * p + b
        shown.add(family)
    assert shown == set(live.family)
    assert f"{int(live.matches.sum())} of {len(live)} live neurons match" in caption
    assert fig.get_suptitle() == f"{report.spec.name}, {report.label}, step {report.run.steps[-1]}"


def test_ablation_curves_rank_neurons_two_ways_against_the_plain_accuracy(lr_run, report):
    fig, caption = neuron_report.ablation_curves(report)
    _, x, y = report.neuron_inputs()
    width = report.spec.model.width
    plain = float(np.mean(lr_run.model(report.model).apply(x).argmax(axis=-1) == y))
    lines = lines_by_label(fig.axes[0])
    assert lines["no ablation"].get_ydata()[0] == pytest.approx(plain)
    for name in ("top patching effect", "top heuristic score", "random neurons (mean)"):
        k = list(lines[name].get_xdata())
        assert k == sorted(set(k)) and k[0] == 1 and k[-1] == width
        assert all(0 <= a <= 1 for a in lines[name].get_ydata())
    kept = int(re.search(r"Keeping only the (\d+) neurons", caption).group(1))
    assert 1 <= kept <= width and f"(plain model {plain:.3f})" in caption
    assert any(line.get_xdata()[0] == width - kept for label, line in lines.items() if "sufficient set" in label)
    assert "Per hidden layer" not in caption  # one hidden layer


def test_heuristic_emergence_follows_every_saved_step(lr_run, report):
    fig, caption = neuron_report.heuristic_emergence(report)
    ax, ax_b, twin = fig.axes
    steps = report.run.steps
    right = lines_by_label(ax_b)
    n_top = max(1, report.spec.model.width // 10)
    for label in ("no ablation", f"{n_top} final top-heuristic neurons ablated", f"{n_top} random neurons (mean)"):
        assert list(right[label].get_xdata()) == steps
    own = report.metrics[report.metrics.model == report.model].sort_values("step")
    np.testing.assert_allclose(lines_by_label(twin)["test accuracy"].get_ydata(), own.test_acc)
    assert f"mean-ablating the {n_top} neurons (10%)" in caption
    assert fig.get_suptitle() == f"{report.spec.name}, {report.label}"


def test_heuristic_emergence_needs_two_checkpoints(lr_run):
    short = Report(lr_run.path)
    short.run.steps = short.run.steps[-1:]  # as a run that saved only its last step
    with pytest.raises(Skip, match="fewer than two saved checkpoints"):
        neuron_report.heuristic_emergence(short)
