"""The figures of `lab report`: functions of the report's context, registered with their file and title.

    @figure("curves.png", "Loss and accuracy", order=10)
    def curves(report: Report) -> tuple[Figure, str]:
        return plot_curves(report.metrics, report.grid), "caption"

A figure function returns its matplotlib Figure and caption, or raises `Skip` with the reason it does
not apply; `lab.report.build` saves the figure and writes the index. `order` places it in the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from matplotlib.figure import Figure

REGISTERED: dict[str, "Drawing"] = {}


@dataclass(frozen=True)
class Drawing:
    """One registered figure: its PNG's name, its title in the index, where it stands, and how it is drawn."""

    file: str
    title: str
    order: int
    draw: Callable[..., tuple[Figure, str]]


def figure(file: str, title: str, order: int):
    """Register a figure function (context -> (Figure, caption)) under its file name."""
    def register(draw):
        if file in REGISTERED:
            raise ValueError(f"two report figures write {file}")
        REGISTERED[file] = Drawing(file, title, order, draw)
        return draw
    return register


def in_order() -> dict[str, Drawing]:
    """Every registered figure by file name, in index order."""
    return dict(sorted(REGISTERED.items(), key=lambda item: item[1].order))
