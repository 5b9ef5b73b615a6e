"""lab.report.build: `lab report` draws a run's figures and index.md, says why a figure is left out, refuses a
folder that is not a run, and writes an index.html whose every image loads in headless Chromium."""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest
from playwright.sync_api import sync_playwright

from lab.cli import main
from lab.launch.runner import run_sweep
from lab.report import FIGURES
from tests.helpers import PNG_MAGIC, check_report_figures, run_report, tiny_spec


@pytest.fixture(scope="module")
def two_axis_run(tmp_path_factory):
    spec = tiny_spec(seeds=2, axes=[("train.weight_decay", (0.0, 1.0)), ("train.lr", (3e-3, 1e-2))])
    return run_sweep(spec, tmp_path_factory.mktemp("two") / "r", progress=False)


@pytest.fixture(scope="module")
def one_axis_run(tmp_path_factory):
    spec = tiny_spec(seeds=2, axes=[("train.weight_decay", (0.0, 1.0))])
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, depth=2))  # two hidden layers
    return run_sweep(spec, tmp_path_factory.mktemp("one") / "r", progress=False)


# The flags a closed network needs (no background connections) and a root user (no sandbox).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IMAGES = "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "no Chromium on PATH: run tests/install-chromium (it installs Debian's chromium)"
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=_chromium(), args=FLAGS)
        yield chromium
        chromium.close()


def _loaded(browser, page_path) -> list[tuple[str, bool]]:
    """Each <img> of the page at page_path, in order, with whether it loaded (decoded, non-zero width)."""
    page = browser.new_page()
    try:
        page.goto(page_path.as_uri(), wait_until="load")
        return [tuple(pair) for pair in page.evaluate(IMAGES)]
    finally:
        page.close()


def test_report_of_a_two_axis_run_draws_every_figure(two_axis_run, capsys):
    text, shown = run_report(two_axis_run, capsys)
    # A modular x+y task over two swept axes: every figure applies but the sparse-parity, skills and reference ones.
    assert shown == [f for f in FIGURES if f not in ("parity_pruning.png", "skills.png", "reference.png")]
    check_report_figures(two_axis_run, shown)
    assert text.startswith("# Report: tiny")
    assert "modular arithmetic x+y mod 11" in text and "8 models = 4 setting(s) x 2 seed(s)" in text
    assert "step_generalized" in text  # the settings table
    assert text.count("Not drawn") == 3 and "this figure is for sparse parity" in text
    assert "the spec names no published runs to compare with" in text
    assert "this figure is for multitask parity and skill composition" in text
    assert re.search(r"over 2 seeds .* universal \(\d+\.\d%", text)  # the neuron figures say what they found
    assert re.search(r"Keeping only the \d+ neurons", text)
    for name in shown:  # each figure has a caption under it
        caption = text.split(f"]({name})", 1)[1].strip().split("\n", 1)[0]
        assert len(caption) > 40 and not caption.startswith(("#", "!")), name


def test_one_axis_run_gets_no_phase_diagram_and_says_why(one_axis_run, capsys):
    (one_axis_run / "report").mkdir(exist_ok=True)
    (one_axis_run / "report" / "phase_diagram.png").write_bytes(PNG_MAGIC)  # stale: must not survive
    text, shown = run_report(one_axis_run, capsys, "--model", "1", "--quiet")
    assert "phase_diagram.png" not in shown
    assert not (one_axis_run / "report" / "phase_diagram.png").exists()
    assert re.search(r"Not drawn \(`phase_diagram.png`\): .*1 swept axis .*needs two \(or three", text)
    assert "model 1 (weight_decay=0.0, seed=1): chosen with --model" in text
    assert re.search(r"Per hidden layer \(the others untouched\): layer 0 \d+ \(.*\), layer 1 \d+", text)
    check_report_figures(one_axis_run, shown)


def test_a_folder_that_is_not_a_run_is_a_one_line_error(tmp_path, capsys, one_axis_run):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lab: error:") and err.strip().count("\n") == 0 and "holds no lab run" in err
    assert not (tmp_path / "report").exists()
    assert main(["report", str(one_axis_run), "--model", "99"]) == 2
    assert "--model 99 is not in this run" in capsys.readouterr().err


def test_every_figure_of_the_report_page_loads_in_chromium(tmp_path, browser, capsys):
    run_dir = tmp_path / "r"
    run_sweep(tiny_spec(seeds=2, axes=[("train.weight_decay", (0.0, 1.0)), ("train.lr", (3e-3, 1e-2))]),
              run_dir, progress=False)
    assert main(["report", str(run_dir)]) == 0
    capsys.readouterr()
    report = run_dir / "report"
    images = _loaded(browser, report / "index.html")
    assert sorted(src for src, _ in images) == sorted(p.name for p in report.glob("*.png"))
    assert len(images) >= 10 and all(ok for _, ok in images), images
    # The check can fail: the same page with one figure gone shows that image as not loaded.
    copy = tmp_path / "copy"
    shutil.copytree(report, copy)
    (copy / images[0][0]).unlink()
    assert _loaded(browser, copy / "index.html") == [(images[0][0], False)] + images[1:]
