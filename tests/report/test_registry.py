"""lab.report.registry: figures register by file name, come back in index order, and one file is one figure."""

from __future__ import annotations

import dataclasses

import pytest

from lab.report import (  # build: every figure registers before a test swaps the registry
    build,
    neuron_report,
    registry,
)


@pytest.fixture
def empty_registry(monkeypatch):
    """A fresh, empty REGISTERED for one test; monkeypatch puts the real one back afterwards."""
    monkeypatch.setattr(registry, "REGISTERED", {})
    return registry


def _draw(report):
    raise AssertionError("never drawn here")


def test_figure_registers_a_drawing_and_returns_the_function_unchanged(empty_registry):
    def curves(report):
        return None, "caption"

    decorated = empty_registry.figure("curves.png", "Loss and accuracy", order=10)(curves)
    assert decorated is curves
    assert empty_registry.REGISTERED == {"curves.png": registry.Drawing("curves.png", "Loss and accuracy", 10, curves)}


def test_in_order_sorts_by_order_not_by_registration(empty_registry):
    for file, order in (("c.png", 30), ("a.png", 10), ("d.png", 40), ("b.png", 20)):
        empty_registry.figure(file, file.upper(), order=order)(_draw)
    drawings = empty_registry.in_order()
    assert list(drawings) == ["a.png", "b.png", "c.png", "d.png"]
    assert [d.order for d in drawings.values()] == [10, 20, 30, 40]
    assert all(name == d.file and d.title == name.upper() for name, d in drawings.items())
    assert list(empty_registry.REGISTERED) == ["c.png", "a.png", "d.png", "b.png"]  # in_order leaves it as it was


def test_figures_of_equal_order_keep_their_registration_order(empty_registry):
    for file in ("second.png", "first.png", "third.png"):
        empty_registry.figure(file, file, order=5)(_draw)
    empty_registry.figure("zero.png", "zero", order=0)(_draw)
    assert list(empty_registry.in_order()) == ["zero.png", "second.png", "first.png", "third.png"]


def test_two_figures_with_one_file_name_are_refused_and_the_first_is_kept(empty_registry):
    def first(report):
        return None, "first"

    def second(report):
        return None, "second"

    empty_registry.figure("same.png", "First", order=1)(first)
    with pytest.raises(ValueError, match="two report figures write same.png"):
        empty_registry.figure("same.png", "Second", order=2)(second)
    assert empty_registry.REGISTERED["same.png"].draw is first
    assert empty_registry.REGISTERED["same.png"].title == "First"
    assert len(empty_registry.REGISTERED) == 1


def test_a_drawing_is_frozen(empty_registry):
    drawing = registry.Drawing("x.png", "X", 1, _draw)
    with pytest.raises(dataclasses.FrozenInstanceError):
        drawing.order = 2


def test_the_real_registry_holds_every_report_figure_once_in_a_single_order():
    drawings = registry.in_order()
    assert drawings == build.FIGURES  # build's FIGURES is the registry at import, nothing added since
    assert all(name == d.file and name.endswith(".png") and d.title for name, d in drawings.items())
    orders = [d.order for d in drawings.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)  # no tie left to import order
    neuron_files = [name for name, d in drawings.items() if d.draw.__module__ == neuron_report.__name__]
    assert neuron_files == ["universality.png", "neuron_examples.png", "ablation_curves.png",
                            "heuristic_emergence.png"]
    assert list(drawings)[0] == "curves.png" and drawings["curves.png"].draw is build.curves
