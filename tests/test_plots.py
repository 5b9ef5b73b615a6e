"""Tests of lab.plots and the report's drawing modules: every plotting function takes an optional `ax`, draws
there, and returns its matplotlib Figure without saving or showing it."""

from __future__ import annotations

import importlib
import inspect

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

import lab
from lab.plots import plot_curves

from conftest import tiny_spec

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


def test_curves_draw_on_the_given_axes_and_save_nothing(tmp_path, monkeypatch):
    run = lab.sweep(tiny_spec(seeds=1), out=tmp_path / "run", set={"sweep.train.weight_decay": [0.0, 1.0]},
                    progress=False)
    monkeypatch.chdir(tmp_path)
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_curves(run.metrics, run.grid, ax=(left, right)) is fig
    assert len(left.lines) == len(right.lines) == 4  # two settings, train and test
    new = plot_curves(run.metrics, run.grid, title="tiny")
    assert isinstance(new, Figure) and new is not fig and "tiny" in new._suptitle.get_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written
    plt.close("all")
