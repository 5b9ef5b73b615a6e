"""lab.plots.curves: the curves draw on the given axes and save nothing."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

import lab
from lab.plots import plot_curves
from tests.helpers import tiny_spec


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
