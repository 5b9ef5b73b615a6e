"""Figures of a whole sweep drawn from its metrics: weight norm, softmax collapse, phase diagram,
steps to generalize, and skills (per-skill emergence, tuple sizes against the theory).

Each function takes tables (not a Run) and returns its matplotlib Figure (an optional `ax` to draw on);
nothing is saved here: `lab report` writes the PNGs.
The figures of one model (Fourier spectra, neurons, progress measures, trajectories) are in
`lab.report.model_figures`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from lab.analysis.summary import TEST_FIT, setting_columns
from lab.plots.axes import figure_and_axes, finish
from lab.report.phases import CLASSES

DPI = 110
PHASE_COLORS = {"no learning": "#bdbdbd", "memorizes": "#e6550d", "grokking": "#756bb1", "generalizes": "#31a354"}


def setting_keys(grid: pd.DataFrame) -> list[str]:
    """The swept columns that make a setting: every grid column but the model, group and seeds."""
    return setting_columns(grid)


def short(key: str) -> str:
    """A swept column's name without its section: "train.weight_decay" -> "weight_decay"."""
    return key.split(".")[-1]


def setting_label(keys: list[str], values) -> str:
    """A setting as "weight_decay=1.0, lr=0.01" (the same words as the curves' legend)."""
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{short(k)}={v}" for k, v in zip(keys, values)) or "all models"


def save_figure(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_metric_over_steps(metrics: pd.DataFrame, grid: pd.DataFrame, column: str, title: str,
                           ylabel: str, what: str, max_settings: int = 8, yscale: str = "linear", ax=None) -> Figure:
    """One logged metric over steps (log axis): per setting the mean over seeds and its min..max band."""
    keys = setting_keys(grid)
    table = metrics[metrics.step > 0]
    settings = list(table.groupby(keys, sort=False)) if keys else [((), table)]
    pooled = ""
    if len(settings) > max_settings and len(keys) > 1:  # too many lines: one per value of the first axis
        pooled, keys = f"; pooled over {', '.join(short(k) for k in keys[1:])}", keys[:1]
        settings = list(table.groupby(keys, sort=False))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = figure_and_axes(ax, figsize=(8, 4.8))
    for i, (values, part) in enumerate(settings[:max_settings]):
        stats = part.groupby("step")[column].agg(["mean", "min", "max"])
        color = colors[i % len(colors)]
        ax.plot(stats.index, stats["mean"], color=color, label=setting_label(keys, values))
        ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
    ax.set(xscale="log", yscale=yscale, xlabel="training step (log scale)", ylabel=ylabel)
    extra = f"; first {max_settings} of {len(settings)} settings" if len(settings) > max_settings else ""
    ax.set_title(f"{title}: {what}\nline = mean over seeds{pooled}, band = min..max{extra}")
    ax.legend(fontsize=8, loc="best", title="setting", title_fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return finish(fig)


def plot_weight_norm(metrics: pd.DataFrame, grid: pd.DataFrame, title: str,
                     max_settings: int = 8, ax=None) -> Figure:
    """The norm of all weights over steps (log axis): per setting the mean over seeds and its range."""
    return plot_metric_over_steps(metrics, grid, "weight_norm", title, "norm of all weights (L2)",
                                  "weight norm over training", max_settings, ax=ax)


def _cells(table: pd.DataFrame, axes: list[str], column: str) -> tuple[list, list, np.ndarray]:
    """A column of the phase table as a [len(y values), len(x values)] array (x = axes[0])."""
    xs, ys = sorted(table[axes[0]].unique()), sorted(table[axes[1]].unique())
    out = np.full((len(ys), len(xs)), None, dtype=object)
    for _, row in table.iterrows():
        out[ys.index(row[axes[1]]), xs.index(row[axes[0]])] = row[column]
    return xs, ys, out


def _grid_axes(ax, axes: list[str], xs: list, ys: list) -> None:
    ax.set_xticks(np.arange(len(xs) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(ys) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(range(len(xs)), [f"{v:g}" if isinstance(v, float) else str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" if isinstance(v, float) else str(v) for v in ys])
    ax.set(xlabel=axes[0], ylabel=axes[1])


def plot_phase_diagram(table: pd.DataFrame, axes: list[str], title: str, facet: str | None = None, ax=None) -> Figure:
    """Two heatmaps over (axes[0] x axes[1]): median step to generalize, and the majority phase class.

    Args:
        table: `lab.report.phases.phase_table` of the axes (and of facet, when given).
        axes: the two swept columns (x, then y).
        ax: axes to draw on (default: a new figure).
        title: the figure's title (the spec name).
        facet: a third swept column: one row of the two heatmaps per value of it (e.g. task.n_train).
    """
    values = _axis_values(table[facet]) if facet else [None]
    xs, ys, _ = _cells(table, axes, "median_step")
    fig, rows = figure_and_axes(ax, len(values), 2, figsize=(7 + 0.9 * len(xs) * 2, (2.6 + 0.7 * len(ys)) * len(values)),
                             squeeze=False)
    for (ax_step, ax_phase), value in zip(rows, values):
        part = table if facet is None else table[table[facet] == value]
        where = "" if facet is None else f"{short(facet)} = {value}: "
        _phase_row(fig, ax_step, ax_phase, part, axes, where, legend=ax_phase is rows[0][1])
    fig.suptitle(f"{title}: phase diagram over {short(axes[0])} x {short(axes[1])}"
                 + (f", one row per {short(facet)}" if facet else ""))
    return finish(fig)


def _phase_row(fig, ax_step, ax_phase, table: pd.DataFrame, axes: list[str], where: str, legend: bool) -> None:
    """One setting grid's two heatmaps: median step to generalize and the majority phase."""
    xs, ys, steps = _cells(table, axes, "median_step")
    _, _, sizes = _cells(table, axes, "models")
    size = max(len(xs), len(ys))
    font = 9 if size <= 5 else 7 if size <= 8 else 5
    steps_YxX = np.array([[np.nan if v is None else v for v in row] for row in steps], dtype=float)
    finite = steps_YxX[np.isfinite(steps_YxX)]
    shown_YxX = np.where(np.isfinite(steps_YxX), np.maximum(steps_YxX, 1.0), np.nan)
    norm = LogNorm(vmin=max(finite.min(), 1.0), vmax=max(finite.max(), 10.0)) if finite.size else None
    image = ax_step.imshow(np.ma.masked_invalid(shown_YxX), cmap="viridis_r", norm=norm, origin="lower",
                           aspect="auto")
    for iy in range(len(ys)):
        for ix in range(len(xs)):
            value = steps_YxX[iy, ix]
            if np.isfinite(value):
                ax_step.text(ix, iy, f"{value:.0f}", ha="center", va="center", fontsize=font,
                             color="white" if norm and norm(max(value, 1.0)) > 0.5 else "black")
            else:
                ax_step.add_patch(Rectangle((ix - 0.5, iy - 0.5), 1, 1, facecolor="#d9d9d9", hatch="//",
                                            edgecolor="#969696", linewidth=0))
                ax_step.text(ix, iy, "never" if sizes[iy, ix] else "", ha="center", va="center", fontsize=font)
    if norm is not None:
        fig.colorbar(image, ax=ax_step, label="median step (log colour scale)")
    _grid_axes(ax_step, axes, xs, ys)
    ax_step.set_title(f"{where}median step to test accuracy >= {TEST_FIT}\n(grey hatched: at least half the seeds "
                      f"never)", fontsize=10)
    draw_phase_classes(ax_phase, table, axes, font)
    ax_phase.set_title(f"{where}phase of each setting (majority over seeds)\nPAIR rule on the logged train/test "
                       f"losses", fontsize=10)
    if legend:
        ax_phase.legend(handles=[Patch(facecolor=PHASE_COLORS[c], label=c) for c in CLASSES], fontsize=8,
                        loc="upper left", bbox_to_anchor=(1.02, 1.0), title="phase", title_fontsize=8)


def draw_phase_classes(ax, table: pd.DataFrame, axes: list[str], font: int = 8) -> None:
    """A heatmap of each setting's majority phase class with its seed count (table: `phase_table`)."""
    xs, ys, phases = _cells(table, axes, "phase")
    _, _, counts = _cells(table, axes, "phase_count")
    _, _, sizes = _cells(table, axes, "models")
    index_YxX = np.array([[np.nan if v is None else CLASSES.index(v) for v in row] for row in phases], dtype=float)
    cmap = ListedColormap([PHASE_COLORS[c] for c in CLASSES])
    ax.imshow(np.ma.masked_invalid(index_YxX), cmap=cmap, vmin=-0.5, vmax=len(CLASSES) - 0.5, origin="lower",
              aspect="auto")
    for iy in range(len(ys)):
        for ix in range(len(xs)):
            if phases[iy, ix] is not None:
                ax.text(ix, iy, f"{phases[iy, ix]}\n{counts[iy, ix]}/{sizes[iy, ix]}", ha="center", va="center",
                        fontsize=font)
    _grid_axes(ax, axes, xs, ys)


def _axis_values(values: pd.Series) -> list:
    """An axis's values in order: sorted numbers, or strings in the order they first appear."""
    unique = list(dict.fromkeys(values.tolist()))
    return sorted(unique) if all(isinstance(v, (int, float, np.number)) for v in unique) else unique


def plot_steps_to_generalize(table: pd.DataFrame, x_key: str, series_keys: list[str], title: str,
                             last_step: int, max_series: int = 8, ax=None) -> Figure:
    """Steps to test accuracy >= TEST_FIT against one swept axis: a dot per model, a line through the medians.

    Args:
        table: one row per model with step_generalized (NaN: never) and the grid's columns.
        x_key: the swept column on the x axis (numbers on a linear axis, strings as categories).
        series_keys: the other swept columns; each combination is one colour.
        ax: axes to draw on (default: a new figure).
        title: the figure's title (the spec name).
        last_step: the run's last step (models that never generalized are drawn above it, at "never").
    """
    xs = _axis_values(table[x_key])
    numeric = not isinstance(xs[0], str)
    position = {v: (float(v) if numeric else i) for i, v in enumerate(xs)}
    never_y = last_step * 2.0
    series = list(table.groupby(series_keys, sort=False)) if series_keys else [((), table)]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    spread = (max(position.values()) - min(position.values()) or 1.0) * 0.012 if numeric else 0.06
    offsets = (np.arange(min(len(series), max_series)) - (min(len(series), max_series) - 1) / 2) * spread
    fig, ax = figure_and_axes(ax, figsize=(max(6.5, 1.1 * len(xs) + 3), 4.8))
    for i, (values, part) in enumerate(series[:max_series]):
        color = colors[i % len(colors)]
        steps = part["step_generalized"].to_numpy(float)
        x = np.array([position[v] for v in part[x_key]]) + offsets[i]
        done = np.isfinite(steps)
        ax.scatter(x[done], steps[done], color=color, s=22, alpha=0.8)
        ax.scatter(x[~done], np.full((~done).sum(), never_y), facecolors="none", edgecolors=color, s=28)
        medians = part.assign(s=part["step_generalized"].fillna(np.inf)).groupby(x_key, sort=False)["s"].median()
        mx = np.array([position[v] for v in medians.index]) + offsets[i]
        order = np.argsort(mx)
        my = np.where(np.isfinite(medians.to_numpy()), medians.to_numpy(), never_y)[order]
        ax.plot(mx[order], my, color=color, marker="_", markersize=14, linewidth=1.5 if numeric else 0,
                label=setting_label(series_keys, values) if series_keys else "median over seeds")
    ax.axhline(last_step * 1.4, color="#969696", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    finite = table["step_generalized"].dropna()
    low = 10.0 ** np.floor(np.log10(max(finite.min(), 1.0))) if len(finite) else last_step / 10
    ticks = [t for t in 10.0 ** np.arange(0, 10) if low <= t <= last_step]
    ax.set_yticks([*ticks, never_y], [f"{t:g}" for t in ticks] + [f"never in\n{last_step:g} steps"])
    ax.set_ylim(low * 0.8, never_y * 1.6)
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set(xlabel=x_key, ylabel=f"first step with test accuracy >= {TEST_FIT} (log)")
    extra = f"; first {max_series} of {len(series)} series" if len(series) > max_series else ""
    ax.set_title(f"{title}: steps to generalize per {short(x_key)}\n"
                 f"dot = one model (open: never), line/bar = median over seeds{extra}")
    ax.legend(fontsize=8, loc="best", title=", ".join(short(k) for k in series_keys) or None, title_fontsize=8)
    ax.grid(alpha=0.3, which="both", axis="y")
    return finish(fig)


def plot_skills(own_metrics: pd.DataFrame, groups: list[str], labels: list[str], right: dict, title: str, ax=None) -> Figure:
    """Left: the representative model's test accuracy per skill (or tuple size) over training, with the mean.
    Right: `right["kind"]` "power law" (step learned against skill frequency, every model, with the
    fit) or "composition" (final accuracy per tuple size against the swept axis, with the theory).

    Args:
        own_metrics: the model's logged metrics with test_acc and test_acc_<group> columns.
        groups: the group names (task_0, ... or k1, ...); labels: their legend labels.
        right: the right panel's data (see `lab.report.build.skills`).
    """
    fig, (ax, ax_r) = figure_and_axes(ax, 1, 2, figsize=(13, 4.6))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(groups)))
    shown = own_metrics[own_metrics.step > 0]
    for group, label, color in zip(groups, labels, colors):
        ax.plot(shown.step, shown[f"test_acc_{group}"], color=color, lw=1.2, label=label)
    ax.plot(shown.step, shown.test_acc, "k", lw=2.5, label="mean over the test set")
    ax.set(xscale="log", xlabel="step", ylabel="test accuracy", ylim=(0, 1.02),
           title="each skill over training" if right["kind"] == "power law" else "each tuple size over training")
    ax.legend(fontsize=7, ncol=2 if len(groups) > 8 else 1)
    if right["kind"] == "power law":
        steps = right["steps"]
        ax_r.scatter(steps.frequency, steps.step, s=12, alpha=0.6, color="#3182bd", label="a model learns a skill")
        if right["fit"] is not None:
            fit, xs = right["fit"], np.geomspace(steps.frequency.min(), steps.frequency.max(), 50)
            ax_r.plot(xs, fit(xs), "k--", label=f"step ~ p^-{fit.exponent:.2f} "
                                                f"[{fit.exponent_low:.2f}, {fit.exponent_high:.2f}]")
        ax_r.set(xscale="log", yscale="log", xlabel="skill frequency p in training",
                 ylabel="step at which it is learned", title="when skills are learned (quantization model: p^-1)")
    else:
        table, axis = right["table"], right["axis"]
        for group, label, color in zip(groups, labels, colors):
            mean = table.groupby(axis)[[f"test_acc_{group}", f"pred_{group}"]].mean()
            ax_r.plot(mean.index, mean[f"test_acc_{group}"], "o-", color=color, label=label)
            ax_r.plot(mean.index, mean[f"pred_{group}"], "--", color=color, alpha=0.5, lw=3)
        ax_r.set(xlabel=axis, ylabel="accuracy at the last step", ylim=(0, 1.02),
                 title="held-out tuples (dashed: Arora-Goyal from the single-skill accuracy)")
        values = np.sort(table[axis].unique())
        if np.issubdtype(values.dtype, np.number) and values.min() > 0 and values.max() >= 8 * values.min():
            ax_r.set_xscale("log")
            ax_r.minorticks_off()
        if np.issubdtype(values.dtype, np.number):
            ax_r.set_xticks(values, [str(v) for v in values])
    ax_r.legend(fontsize=8)
    fig.suptitle(title)
    return finish(fig)
