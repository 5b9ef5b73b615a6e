"""Figures drawn from run metrics (matplotlib, Agg backend, PNG files)."""

from lab.plots.curves import plot_curves

__all__ = ["plot_curves"]
