"""lab.report.reference_report: a reference spec's run shown beside the peer's published runs."""

from __future__ import annotations

from lab.launch.runner import run_sweep
from tests.helpers import SWEEPS, check_report_figures, run_report


def test_a_reference_spec_is_shown_beside_the_published_runs(tmp_path, capsys):
    from lab.sweeps import load_spec

    spec = load_spec(SWEEPS / "pair_circle.toml", ["train.steps=300", "sweep.seeds=2", "train.checkpoints=2"])
    run_dir = run_sweep(spec, tmp_path / "circle", progress=False)
    text, shown = run_report(run_dir, capsys)
    check_report_figures(run_dir, shown)
    assert "reference.png" in shown
    lines = [line for line in text.splitlines() if line.startswith("- ") and "explorable's range" in line]
    assert len(lines) == 3 and "notebook's 10,080 (one run)" in text  # its log, read from lab/references
    assert "final test accuracy" in lines[0] and "OUTSIDE" in lines[0]  # 300 steps: not there yet
