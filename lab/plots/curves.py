"""Train and test accuracy and loss against step (log axis), one colour per swept setting."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from lab.sweeps.summary import setting_columns


def _label(keys: list[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, values)) or "all models"


def plot_curves(metrics: pd.DataFrame, grid: pd.DataFrame, path: Path, title: str, max_settings: int = 8) -> Path:
    """Accuracy (left) and loss (right) over steps; lines are means over seeds, bands their range."""
    keys = setting_columns(grid)
    table = metrics[metrics.step > 0]
    settings = list(table.groupby(keys, sort=False)) if keys else [((), table)]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
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
    fig.suptitle(f"{title}{extra}: mean over seeds, band = min..max")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
