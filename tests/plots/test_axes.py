"""lab.plots.axes: every plotting function of the library takes an optional `ax` and returns its matplotlib
Figure."""

from __future__ import annotations

import importlib
import inspect

import pytest
from matplotlib.figure import Figure

MODULES = ["lab.plots.curves", "lab.report.figures", "lab.report.model_figures", "lab.report.neuron_figures"]


@pytest.mark.parametrize("module", MODULES)
def test_every_plotting_function_takes_ax_and_returns_a_figure(module):
    functions = [f for name, f in inspect.getmembers(importlib.import_module(module), inspect.isfunction)
                 if name.startswith("plot_") and f.__module__ == module]
    assert functions
    for f in functions:
        signature = inspect.signature(f)
        assert "ax" in signature.parameters and signature.parameters["ax"].default is None, f.__name__
        assert "path" not in signature.parameters, f"{f.__name__} writes a file; only `lab report` does"
        assert signature.return_annotation in (Figure, "Figure"), f.__name__
