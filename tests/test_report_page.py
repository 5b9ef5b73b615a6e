"""`lab report`'s index.html opened in headless Chromium (Debian's, driven by Playwright): every figure loads."""

from __future__ import annotations

import shutil

import pytest
from conftest import tiny_spec
from playwright.sync_api import sync_playwright

from lab.cli import main
from lab.launch.runner import run_sweep

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
