"""Neuron-level figures: universality against its baseline, example neurons over the (a, b) grid,
heuristic-versus-random ablation curves and the emergence of heuristics over training.

Each function takes arrays or tables computed by `lab.report.build` (not a Run), draws one figure
and returns it (an optional `ax` to draw on; nothing is saved).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.analysis.heuristics import FAMILIES
from lab.plots.axes import figure_and_axes, finish


def plot_universality(mean_max: np.ndarray, baseline: np.ndarray, threshold: float, fractions: dict[str, float],
                      family_table: pd.DataFrame, family_label: str, title: str, ax=None) -> Figure:
    """Left: histogram of each neuron's mean best-match correlation against the rotation baseline's.
    Right: neurons per family (all and universal), the 12 largest families.

    Args:
        mean_max: every neuron's mean (over the other seeds) max correlation, pooled over seeds.
        baseline: the same statistic against randomly rotated neuron bases, pooled.
        threshold: the baseline percentile a universal neuron passes.
        fractions: {"percentile": share universal by the threshold, "excess": share with excess > 0.5}.
        family_table: one row per neuron of the first model with `family` and `universal`.
        family_label: what a family is ("dominant frequency", ...).
    """
    fig, (ax, ax_f) = figure_and_axes(ax, 1, 2, figsize=(12, 4.2))
    bins = np.linspace(min(np.nanmin(mean_max), np.nanmin(baseline), 0.0), 1.0, 41)
    ax.hist(baseline.ravel(), bins=bins, density=True, color="#bdbdbd", label="random-rotation baseline")
    ax.hist(mean_max.ravel(), bins=bins, density=True, histtype="step", lw=2, color="#3182bd", label="neurons")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"baseline percentile ({threshold:.2f})")
    ax.set(xlabel="mean over other seeds of the best-match correlation", ylabel="density",
           title=f"{fractions['percentile']:.1%} universal (above the line); "
                 f"{fractions['excess']:.1%} with excess > 0.5")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8, loc="upper left")
    counts = family_table.groupby("family").agg(all=("neuron", "size"), universal=("universal", "sum"))
    counts = counts.sort_values(["universal", "all"], ascending=False).head(12)
    pos = np.arange(len(counts))
    ax_f.bar(pos - 0.2, counts["all"], 0.4, color="#bdbdbd", label="all neurons")
    ax_f.bar(pos + 0.2, counts["universal"], 0.4, color="#3182bd", label="universal")
    ax_f.set_xticks(pos, [str(f) for f in counts.index], rotation=45, ha="right", fontsize=8)
    ax_f.set(ylabel="neurons (first seed)", title=f"families by {family_label}")
    ax_f.legend(fontsize=8)
    fig.suptitle(title)
    return finish(fig)


def plot_neuron_examples(examples: list[tuple[np.ndarray, str]], title: str, ax=None) -> Figure:
    """Activation heatmaps over the (a, b) grid, one panel per (grid_PxP, caption)."""
    n = max(len(examples), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = figure_and_axes(ax, rows, cols, figsize=(4.2 * cols, 3.9 * rows), squeeze=False)
    for ax, (grid_PxP, caption) in zip(axes.ravel(), examples):
        im = ax.imshow(grid_PxP, origin="lower", cmap="viridis", aspect="auto")
        ax.set(xlabel="b", ylabel="a")
        ax.set_title(caption, fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in axes.ravel()[len(examples):]:
        ax.axis("off")
    fig.suptitle(title)
    return finish(fig)


def plot_ablation_curves(curves: dict[str, pd.DataFrame], plain_accuracy: float, n_neurons: int,
                         sufficient: tuple[int, float] | None, title: str, ax=None) -> Figure:
    """Accuracy after mean-ablating the top-k neurons of each ranking, against random k-sets.

    Args:
        curves: {ranking name: `lab.analysis.attribution.ablation_curve`'s table}; the first one's
            random columns are drawn as the baseline band.
        plain_accuracy: the unablated model's accuracy.
        n_neurons: the layer's width (for the top axis in percent).
        sufficient: (k, accuracy) of the smallest sufficient set, marked when given.
    """
    fig, ax = figure_and_axes(ax, figsize=(7.5, 4.5))
    random = next(iter(curves.values()))
    ax.fill_between(random.k, random.random_accuracy_p05, random.random_accuracy_p95, color="#bdbdbd", alpha=0.6,
                    label="random neurons (5-95%)")
    ax.plot(random.k, random.random_accuracy_mean, color="#636363", lw=1.5, label="random neurons (mean)")
    for (name, table), color in zip(curves.items(), ("#e6550d", "#3182bd", "#31a354")):
        ax.plot(table.k, table.accuracy, "o-", color=color, ms=4, label=name)
    ax.axhline(plain_accuracy, color="k", ls=":", lw=1, label="no ablation")
    if sufficient is not None:
        k, acc = sufficient
        ax.axvline(n_neurons - k, color="#e6550d", ls="--", lw=1,
                   label=f"all but the smallest sufficient set ({k} neurons, accuracy {acc:.2f})")
    ax.set(xscale="log", xlabel="neurons mean-ablated", ylabel="accuracy (all inputs)", ylim=(0, 1.02), title=title)
    top = ax.secondary_xaxis("top", functions=(lambda k: 100 * k / n_neurons, lambda q: q * n_neurons / 100))
    top.set_xlabel("% of the layer")
    ax.legend(fontsize=8)
    return finish(fig)


def plot_heuristic_emergence(shares: pd.DataFrame, own_metrics: pd.DataFrame, ablation: pd.DataFrame, n_top: int,
                             title: str, ax=None) -> Figure:
    """Left: share of neurons matching each heuristic family per saved step, test accuracy on top.
    Right: accuracy over training with the final top-heuristic neurons ablated, beside a random set.

    Args:
        shares: one row per saved step: step and one column per family (shares of live neurons).
        own_metrics: the model's logged metrics (step, test_acc).
        ablation: one row per step: step, plain_accuracy, accuracy (top neurons ablated), and mean, p05,
            p95 of the accuracy over random sets.
        n_top: how many neurons were ablated.
    """
    fig, (ax, ax_b) = figure_and_axes(ax, 1, 2, figsize=(13, 4.5))
    families = [f for f in FAMILIES if f in shares and shares[f].max() > 0]
    if families:
        ax.stackplot(shares.step, *[shares[f] for f in families], labels=families, alpha=0.85)
    else:  # a stackplot of nothing fails; say so on the figure
        ax.text(0.5, 0.5, "no live neuron matches a heuristic at any checkpoint", ha="center", va="center",
                transform=ax.transAxes)
    ax.set(xscale="symlog", xlabel="step", ylabel="share of live neurons matching a heuristic", ylim=(0, 1),
           title="heuristics over training")
    twin = ax.twinx()
    twin.plot(own_metrics.step, own_metrics.test_acc, color="k", lw=1.5, label="test accuracy")
    twin.plot(own_metrics.step, own_metrics.train_acc, color="k", lw=1, ls="--", label="train accuracy")
    twin.set(ylabel="accuracy", ylim=(0, 1.02))
    if families:
        ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="lower right")
    ax_b.plot(ablation.step, ablation.plain_accuracy, "k:", label="no ablation")
    ax_b.plot(ablation.step, ablation.accuracy, "o-", color="#e6550d", ms=4,
              label=f"{n_top} final top-heuristic neurons ablated")
    ax_b.fill_between(ablation.step, ablation.p05, ablation.p95, color="#bdbdbd", alpha=0.6,
                      label=f"{n_top} random neurons (5-95%)")
    ax_b.plot(ablation.step, ablation["mean"], "s-", color="#636363", ms=4, label=f"{n_top} random neurons (mean)")
    ax_b.set(xscale="symlog", xlabel="step", ylabel="accuracy (all inputs)", ylim=(0, 1.02),
             title="mean ablation over training")
    ax_b.legend(fontsize=8)
    fig.suptitle(title)
    return finish(fig)

