"""Train and test accuracy and loss against step (log axis), one colour per swept setting."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lab.analysis.summary import setting_columns


def _label(keys: list[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, values)) or "all models"


def plot_curves(metrics: pd.DataFrame, grid: pd.DataFrame, *, title: str = "", max_settings: int = 8,
                ax: tuple[Axes, Axes] | None = None) -> Figure:
    """Accuracy and loss over steps, one colour per swept setting; lines are means over seeds, bands their range.

        fig = plot_curves(run.metrics, run.grid, title=run.spec.name)

    Args:
        metrics, grid: `run.metrics` and `run.grid`.
        title: the figure's title.
        max_settings: settings drawn at most (the first ones, in grid order).
        ax: two axes to draw accuracy and loss on (default: a new 12 x 4.5 in figure).

    Returns:
        The figure (nothing is saved or shown).
    """
    keys = setting_columns(grid)
    table = metrics[metrics.step > 0]
    settings = list(table.groupby(keys, sort=False)) if keys else [((), table)]
    if ax is None:
        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    else:
        (ax_acc, ax_loss), fig = ax, ax[0].figure
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (values, part) in enumerate(settings[:max_settings]):
        color = colors[i % len(colors)]
        by_step = part.groupby("step")
        for column, style, ax in (("train_acc", "--", ax_acc), ("test_acc", "-", ax_acc),
                                  ("train_loss", "--", ax_loss), ("test_loss", "-", ax_loss)):
            stats = by_step[column].agg(["mean", "min", "max"])
            label = f"{_label(keys, values)} ({column.split('_')[0]})"
            ax.plot(stats.index, stats["mean"], style, color=color, label=label)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
    ax_acc.set(xscale="log", xlabel="step", ylabel="accuracy", ylim=(-0.02, 1.02), title="accuracy (dashed: train)")
    ax_loss.set(xscale="log", yscale="log", xlabel="step", ylabel="loss", title="loss (dashed: train)")
    ax_acc.legend(fontsize=7, loc="best")
    extra = f" (first {max_settings} of {len(settings)} settings)" if len(settings) > max_settings else ""
    fig.suptitle(f"{title + ': ' if title else ''}mean over seeds, band = min..max{extra}")
    fig.tight_layout()
    return fig
