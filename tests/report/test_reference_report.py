"""lab.report.reference_report: a reference spec's run shown beside the peer's published runs."""

from __future__ import annotations

import re

import matplotlib.image

from lab.cli import main
from lab.launch.runner import run_sweep
from tests.helpers import ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _report(run_dir, capsys, *extra: str) -> tuple[str, list[str]]:
    """Run `lab report`, check it printed the index path, and return index.md and the figures it shows."""
    assert main(["report", str(run_dir), *extra]) == 0
    index = run_dir / "report" / "index.md"
    assert capsys.readouterr().out.strip() == str(index)
    text = index.read_text()
    return text, re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def _check_figures(run_dir, shown: list[str]) -> None:
    """index.md and index.html show exactly the PNGs that exist, and each is a real, non-trivial image."""
    on_disk = sorted(p.name for p in (run_dir / "report").glob("*.png"))
    assert sorted(shown) == on_disk
    page = (run_dir / "report" / "index.html").read_text()
    assert page.startswith("<!doctype html>") and re.findall(r"<img src='([^']+)'", page) == shown
    for name in shown:
        path = run_dir / "report" / name
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert path.stat().st_size > 5_000, name
        assert matplotlib.image.imread(path).ndim == 3, name


SWEEPS = ROOT / "sweeps"


def test_a_reference_spec_is_shown_beside_the_published_runs(tmp_path, capsys):
    from lab.sweeps import load_spec

    spec = load_spec(SWEEPS / "pair_circle.toml", ["train.steps=300", "sweep.seeds=2", "train.checkpoints=2"])
    run_dir = run_sweep(spec, tmp_path / "circle", progress=False)
    text, shown = _report(run_dir, capsys)
    _check_figures(run_dir, shown)
    assert "reference.png" in shown
    lines = [line for line in text.splitlines() if line.startswith("- ") and "explorable's range" in line]
    assert len(lines) == 3 and "notebook's 10,080 (one run)" in text  # its log, read from lab/references
    assert "final test accuracy" in lines[0] and "OUTSIDE" in lines[0]  # 300 steps: not there yet
