"""Where a plotting function draws: on the axes it is given, or on a new figure's."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def figure_and_axes(ax: Any = None, nrows: int = 1, ncols: int = 1, **subplots: Any) -> tuple[Figure, Any]:
    """(figure, axes): the given axes (one, or an array/sequence of nrows x ncols) and their figure, or a new
    figure's from `plt.subplots(nrows, ncols, **subplots)`."""
    if ax is None:
        return plt.subplots(nrows, ncols, **subplots)
    return np.ravel(np.asarray(ax, dtype=object))[0].figure, ax


def finish(fig: Figure) -> Figure:
    """The figure, laid out (nothing is saved or shown)."""
    fig.tight_layout()
    return fig
