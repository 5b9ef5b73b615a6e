"""Figures of one model and of a group's weight trajectories: Fourier spectrum over training,
neuron frequencies, progress measures and the joint PCA of the trajectories.

Each function takes arrays or tables computed by `lab.report.build` (not a Run), draws one figure
and returns it (an optional `ax` to draw on; nothing is saved).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.plots.axes import figure_and_axes, finish
from lab.report.figures import plt


def _freq_list(freqs: list[int]) -> str:
    return ", ".join(str(k) for k in freqs) if freqs else "none"


def plot_fourier_spectrum(steps: list[int], norms_SxK: np.ndarray, key_freqs: list[int], key_fraction: float,
                          title: str, ax=None) -> Figure:
    """Heatmap of the embedding's Fourier frequency norms (k >= 1) at every saved step.

    Each column is normalized to the share of that step's non-constant squared norm, so the
    concentration on a few frequencies shows whatever the overall norm does.

    Args:
        steps: the saved steps (S).
        norms_SxK: `frequency_norms` of the embedding at each step, [S, K + 1] (k = 0 first).
        key_freqs: the key frequencies of the final step; key_fraction: the share they explain.
        ax: axes to draw on (default: a new figure); title: the model's description.
    """
    sq_SxK = np.square(np.asarray(norms_SxK, np.float64)[:, 1:])
    share_SxK = sq_SxK / np.maximum(sq_SxK.sum(axis=1, keepdims=True), 1e-30)
    n_freqs = share_SxK.shape[1]
    fig, ax = figure_and_axes(ax, figsize=(max(8.0, 0.32 * len(steps) + 4), max(4.5, min(10.0, 0.14 * n_freqs + 3))))
    image = ax.imshow(share_SxK.T, origin="lower", aspect="auto", cmap="magma",
                      extent=(-0.5, len(steps) - 0.5, 0.5, n_freqs + 0.5))
    stride = max(1, len(steps) // 16)
    ax.set_xticks(range(0, len(steps), stride), [str(s) for s in steps[::stride]], rotation=60, fontsize=8)
    ticks = sorted(set(range(1, n_freqs + 1, max(1, n_freqs // 12))) | set(key_freqs))
    ax.set_yticks(ticks, [str(k) for k in ticks], fontsize=7 if len(ticks) > 16 else 8)
    for tick, k in zip(ax.get_yticklabels(), ticks):
        if k in key_freqs:
            tick.set(color="tab:blue", fontweight="bold")
    ax.set(xlabel="saved step (one column per checkpoint; log-spaced)",
           ylabel="frequency k of the embedding (blue: final key frequencies)")
    fig.colorbar(image, ax=ax, label="share of the step's non-constant squared norm")
    ax.set_title(f"{title}\nembedding Fourier spectrum over training (constant k = 0 left out)\n"
                 f"final key frequencies: {_freq_list(key_freqs)} ({key_fraction:.0%} of the norm)", fontsize=10)
    return finish(fig)


def plot_neuron_frequencies(neurons_per_freq: np.ndarray, neuron_fraction: np.ndarray, key_freqs: list[int],
                            title: str, ax=None) -> Figure:
    """Bars: neurons per dominant frequency (key frequencies highlighted); histogram: variance explained.

    Args:
        neurons_per_freq: [K + 1] neuron counts per dominant frequency (index 0 unused), from `summarize`.
        neuron_fraction: [N] the share of each neuron's non-constant variance its frequency explains.
        key_freqs: the embedding's key frequencies (bars drawn in another colour).
        ax: axes to draw on (default: a new figure); title: the model and step.
    """
    counts_K = np.asarray(neurons_per_freq)[1:]
    freqs_K = np.arange(1, len(counts_K) + 1)
    fig, (ax_bar, ax_hist) = figure_and_axes(ax, 1, 2, figsize=(12, 4.5))
    colors = ["tab:orange" if k in key_freqs else "tab:blue" for k in freqs_K]
    ax_bar.bar(freqs_K, counts_K, color=colors, width=0.8)
    ax_bar.set(xlabel="dominant frequency k of the neuron", ylabel="number of neurons",
               title=f"neurons per dominant frequency ({int(counts_K.sum())} neurons)")
    ax_bar.legend(handles=[plt.Rectangle((0, 0), 1, 1, color="tab:orange", label="key frequency of the embedding"),
                           plt.Rectangle((0, 0), 1, 1, color="tab:blue", label="other frequency")], fontsize=8)
    ax_hist.hist(np.asarray(neuron_fraction), bins=np.linspace(0, 1, 21), color="tab:green", edgecolor="white")
    ax_hist.set(xlabel="fraction of the neuron's variance (over all a, b) its dominant frequency explains",
                ylabel="number of neurons", xlim=(0, 1),
                title=f"how cleanly each neuron is one frequency (median {np.median(neuron_fraction):.2f})")
    fig.suptitle(title)
    return finish(fig)


def plot_progress_measures(table: pd.DataFrame, key_freqs: list[int], title: str,
                           generalized_step: float = np.nan, ax=None) -> Figure:
    """Nanda et al.'s progress measures over saved steps: the four losses, then Gini and sum of squares.

    Args:
        table: one row per saved step with columns step, train_loss, test_loss, restricted_loss,
            excluded_loss, gini, sum_sq_weights (as `lab.analysis.progress.measures`).
        key_freqs: the key frequencies the restricted and excluded losses keep / remove.
        ax: axes to draw on (default: a new figure); title: the model's description.
        generalized_step: the first logged step with test accuracy >= 0.95 (marked), NaN if never.
    """
    table = table[table.step > 0]
    fig, (ax_loss, ax_gini) = figure_and_axes(ax, 1, 2, figsize=(13, 4.8))
    styles = {"train_loss": ("train loss", "black", "--"), "test_loss": ("test loss", "tab:blue", "-"),
              "restricted_loss": ("restricted loss (key frequencies only, all pairs)", "tab:green", "-"),
              "excluded_loss": ("excluded loss (key frequencies removed, train pairs)", "tab:red", "-")}
    for column, (label, color, style) in styles.items():
        ax_loss.plot(table.step, table[column].clip(lower=1e-12), style, color=color, marker=".", label=label)
    ax_loss.set(xscale="log", yscale="log", xlabel="training step (log scale)", ylabel="cross-entropy loss",
                title=f"losses (key frequencies {_freq_list(key_freqs)})")
    ax_gini.plot(table.step, table.gini, color="tab:purple", marker=".", label="Gini of embedding Fourier norms")
    ax_gini.set(xscale="log", xlabel="training step (log scale)", ylabel="Gini coefficient (1 = sparse)",
                title="Fourier sparsity of the embedding and total weight")
    ax_sq = ax_gini.twinx()
    ax_sq.plot(table.step, table.sum_sq_weights, color="tab:gray", marker=".", label="sum of squared weights")
    ax_sq.set_ylabel("sum of squared weights")
    for ax in (ax_loss, ax_gini):
        ax.grid(alpha=0.3, which="both")
        if np.isfinite(generalized_step) and generalized_step > 0:
            ax.axvline(generalized_step, color="black", linestyle=":",
                       label=f"test acc >= 0.95 (step {generalized_step:.0f})")
    ax_loss.legend(fontsize=7, loc="best")
    lines = ax_gini.get_legend_handles_labels()
    more = ax_sq.get_legend_handles_labels()
    ax_gini.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="best")
    fig.suptitle(f"{title}: progress measures (Nanda et al. 2023) at each saved step")
    return finish(fig)


def plot_trajectory_pca(coords_SxMxK: np.ndarray, explained_ratio: np.ndarray, steps: list[int],
                        labels: list[str], title: str, legend_title: str, ax=None) -> Figure:
    """Every model's weight trajectory in the plane of the joint PCA's first two directions.

    Args:
        coords_SxMxK: the PCA coordinates of every (step, model) point (k >= 2).
        explained_ratio: the share of variance of each direction.
        steps: the saved steps (S); labels: a label per model (M), models with one label share a colour.
        ax: axes to draw on (default: a new figure); title: the figure's title; legend_title: what the labels are.
    """
    unique = list(dict.fromkeys(labels))
    cmap = plt.get_cmap("tab10" if len(unique) <= 10 else "viridis")
    color_of = {lab: cmap(i if len(unique) <= 10 else i / max(len(unique) - 1, 1)) for i, lab in enumerate(unique)}
    fig, ax = figure_and_axes(ax, figsize=(8, 6.5))
    for m, label in enumerate(labels):
        x_S, y_S = coords_SxMxK[:, m, 0], coords_SxMxK[:, m, 1]
        color = color_of[label]
        ax.plot(x_S, y_S, "-", color=color, alpha=0.7, linewidth=1.2, marker=".", markersize=5)
        ax.plot(x_S[0], y_S[0], "o", color=color, markersize=8, markerfacecolor="white")
        ax.plot(x_S[-1], y_S[-1], "s", color=color, markersize=7)
    handles = [plt.Line2D([], [], color=color_of[lab], marker=".", label=lab) for lab in unique]
    handles += [plt.Line2D([], [], color="black", marker="o", markerfacecolor="white", linestyle="",
                           label=f"step {steps[0]}"),
                plt.Line2D([], [], color="black", marker="s", linestyle="", label=f"step {steps[-1]}")]
    ax.legend(handles=handles, fontsize=8, title=legend_title, title_fontsize=8, loc="best")
    ax.set(xlabel=f"PC1 ({explained_ratio[0]:.1%} of variance)", ylabel=f"PC2 ({explained_ratio[1]:.1%} of variance)")
    ax.set_title(f"{title}\none line per model, dots at the {len(steps)} saved steps", fontsize=10)
    ax.grid(alpha=0.3)
    return finish(fig)


def plot_parity_pruning(steps: list[int], shares: list[float], metrics: pd.DataFrame, bump: dict, k: int,
                        n_bits: int, title: str, ax=None) -> Figure:
    """Sparse parity: the first layer's weight share on the k relevant bits, and the loss bump.

    Args:
        steps, shares: saved steps and `lab.analysis.pair.relevant_weight_share` at each.
        metrics: the model's logged metrics (step, train_loss, test_acc).
        bump: `lab.analysis.pair.loss_bump_before_generalizing` of those metrics.
        k, n_bits: relevant and total input bits; ax: axes to draw on (default: a new figure); title: the model's description.
    """
    fig, (ax_share, ax_loss) = figure_and_axes(ax, 1, 2, figsize=(13, 4.8))
    keep = np.asarray(steps) > 0
    ax_share.plot(np.asarray(steps)[keep], np.asarray(shares)[keep], marker=".", color="tab:green",
                  label=f"share of squared weight on the {k} relevant bits")
    ax_share.axhline(k / n_bits, color="grey", linestyle=":", label=f"uniform share ({k}/{n_bits})")
    ax_share.set(xscale="log", ylim=(0, 1.02), xlabel="training step (log scale)", ylabel="share of first-layer weight",
                 title="the distractor bits are pruned")
    m = metrics[metrics.step > 0].sort_values("step")
    ax_loss.plot(m.step, m.train_loss.clip(lower=1e-12), color="black", label="train loss")
    ax_loss.set(xscale="log", yscale="log", xlabel="training step (log scale)", ylabel="train loss",
                title="train loss and test accuracy (a bump before generalizing is marked)")
    ax_acc = ax_loss.twinx()
    ax_acc.plot(m.step, m.test_acc, color="tab:blue", label="test accuracy")
    ax_acc.set(ylim=(0, 1.02), ylabel="test accuracy")
    for ax in (ax_share, ax_loss):
        if np.isfinite(bump["generalized_step"]):
            ax.axvline(bump["generalized_step"], color="tab:blue", linestyle=":",
                       label=f"test acc >= 0.95 (step {bump['generalized_step']:.0f})")
    if np.isfinite(bump["bump_step"]) and bump["bump_ratio"] > 1:
        ax_loss.axvline(bump["bump_step"], color="tab:red", linestyle="--",
                        label=f"train loss bump x{bump['bump_ratio']:.2f} (step {bump['bump_step']:.0f})")
    ax_share.legend(fontsize=7, loc="best")
    lines, more = ax_loss.get_legend_handles_labels(), ax_acc.get_legend_handles_labels()
    ax_loss.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="best")
    fig.suptitle(f"{title}: sparse parity, relevant-bit weight and the loss before generalizing")
    return finish(fig)
