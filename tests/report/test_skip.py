"""lab.report.skip: a figure raising Skip is left out of the report with its reason; other errors are not hidden."""

from __future__ import annotations

import shutil

import matplotlib.pyplot as plt
import pytest

from lab.report import build, registry
from lab.report.context import Report
from lab.report.skip import Skip
from tests.helpers import PNG_MAGIC

NEED_CHECKPOINTS = {"fourier_spectrum.png": "the run has no saved checkpoints",
                    "neuron_frequencies.png": "the run has no saved checkpoints",
                    "progress_measures.png": "the run has no saved checkpoints",
                    "trajectory_pca.png": "the run has fewer than two saved checkpoints, so there is no trajectory",
                    "universality.png": "the run has no saved checkpoints",
                    "neuron_examples.png": "the run has no saved checkpoints",
                    "ablation_curves.png": "the run has no saved checkpoints",
                    "heuristic_emergence.png": "the run has fewer than two saved checkpoints"}


@pytest.fixture
def run_dir(lr_run, tmp_path):
    """A copy of the shared run, so a report written into it leaves the shared one alone."""
    return shutil.copytree(lr_run.path, tmp_path / "run")


@pytest.fixture
def own_figures(monkeypatch):
    """An empty registry for a test's own figures (it sets build.FIGURES to them); the real ones come back after."""
    monkeypatch.setattr(registry, "REGISTERED", {})
    monkeypatch.setattr(build, "FIGURES", {})
    return registry


def _draws(report):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    return fig, "a line that applies to every run"


def test_skip_is_an_exception_whose_message_is_the_reason():
    reason = Skip("the task is parity, not modular arithmetic")
    assert isinstance(reason, Exception) and str(reason) == "the task is parity, not modular arithmetic"


def test_a_registered_figure_that_raises_skip_is_left_out_of_the_index_with_its_reason(run_dir, own_figures,
                                                                                        monkeypatch):
    def skips(report):
        raise Skip(f"the run has {len(report.grid)} models, and this figure wants **one**")

    own_figures.figure("skipped.png", "A figure that does not apply", order=2)(skips)
    own_figures.figure("drawn.png", "A figure that applies", order=1)(_draws)
    monkeypatch.setattr(build, "FIGURES", own_figures.in_order())
    (run_dir / "report").mkdir()
    (run_dir / "report" / "skipped.png").write_bytes(PNG_MAGIC)  # left by an earlier report: now wrong

    text = build.build_report(run_dir).read_text()
    assert "![A figure that applies](drawn.png)\n\na line that applies to every run" in text
    assert ("### A figure that does not apply\n\nNot drawn (`skipped.png`): the run has 4 models, and this figure "
            "wants **one**.") in text
    assert text.index("### A figure that applies") < text.index("### A figure that does not apply")  # by order
    assert (run_dir / "report" / "drawn.png").read_bytes()[:8] == PNG_MAGIC
    assert not (run_dir / "report" / "skipped.png").exists()
    page = (run_dir / "report" / "index.html").read_text()
    assert ("<p class='skipped'>Not drawn (<code>skipped.png</code>): the run has 4 models, and this figure wants "
            "<b>one</b>.</p>") in page
    assert "<img src='skipped.png'" not in page and "<img src='drawn.png'" in page


def test_an_error_that_is_not_skip_stops_the_report_instead_of_being_listed(run_dir, own_figures, monkeypatch):
    def breaks(report):
        raise ValueError("a bug in the figure")

    own_figures.figure("broken.png", "A broken figure", order=1)(breaks)
    monkeypatch.setattr(build, "FIGURES", own_figures.in_order())
    with pytest.raises(ValueError, match="a bug in the figure"):
        build.build_report(run_dir)
    assert not (run_dir / "report" / "index.md").exists()


def test_the_built_in_figures_that_do_not_apply_to_a_one_axis_modular_run_say_why(lr_run):
    report = Report(lr_run.path)
    reasons = {"parity_pruning.png": "the task is modular; this figure is for sparse parity",
               "phase_diagram.png": "the sweep has 1 swept axis besides the seeds (train.lr); a phase diagram needs",
               "skills.png": "the task is modular; this figure is for multitask parity and skill composition",
               "reference.png": "the spec names no published runs to compare with"}
    for name, reason in reasons.items():
        with pytest.raises(Skip) as caught:
            build.FIGURES[name].draw(report)
        assert str(caught.value).startswith(reason), name


def test_a_run_without_checkpoints_skips_exactly_the_figures_that_read_them(run_dir):
    report = Report(run_dir)
    report.run.steps = []  # as a run whose last group has saved nothing yet
    report.out.mkdir()
    entries = {drawing.file: build._draw(report, drawing) for drawing in build.FIGURES.values()}
    skipped = {name: entry.skipped for name, entry in entries.items() if entry.skipped}
    for name, reason in NEED_CHECKPOINTS.items():
        assert skipped[name] == reason, name
    drawn = [name for name, entry in entries.items() if not entry.skipped]
    assert drawn == ["curves.png", "weight_norm.png", "softmax_collapse.png", "steps_to_generalize.png"]
    assert all(entries[name].caption and (report.out / name).is_file() for name in drawn)
    assert sorted(p.name for p in report.out.glob("*.png")) == sorted(drawn)
