"""Figures drawn from run metrics: functions that take optional axes and return a matplotlib Figure."""

from lab.plots.curves import plot_curves

__all__ = ["plot_curves"]
