"""The notebooks of docs/notebooks run top to bottom in a real Jupyter kernel (nbclient + ipykernel), show
their figures inline after importing every lab module, and are committed with their outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import ROOT

NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of docs/notebooks and the specs: the notebooks train into its checkpoints/, not the repo's."""
    root = tmp_path_factory.mktemp("notebooks")
    shutil.copytree(ROOT / "sweeps", root / "sweeps")
    shutil.copytree(ROOT / "docs" / "notebooks", root / "docs" / "notebooks")
    return root


def _outputs(book, kind: str) -> list:
    return [o for c in book.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


def test_there_are_notebooks_and_the_docs_link_them():
    assert {p.stem for p in NOTEBOOKS} >= {"01_tour", "02_fourier_anatomy", "03_ablation_and_patching"}
    docs = " ".join(p.read_text() for p in (ROOT / "docs").glob("*.md")) + (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in docs, f"no doc links {path.name}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_in_a_real_kernel_and_shows_its_figures(path, tree):
    copy = tree / "docs" / "notebooks" / path.name
    book = nbformat.read(copy, as_version=4)
    NotebookClient(book, timeout=900, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(copy.parent)}}).execute()  # raises on any cell's error
    shows = sum(line.strip() == "plt.show()" for c in book.cells if c.cell_type == "code" for line in c.source.splitlines())
    assert shows and len(_outputs(book, "image/png")) == shows, "a plt.show() drew no inline figure"
    committed = nbformat.read(path, as_version=4)
    assert len(_outputs(committed, "image/png")) == shows, f"commit {path.name} with its outputs (execute.py)"
    ran = [bool(c.outputs) for c in book.cells if c.cell_type == "code"]
    assert [bool(c.outputs) for c in committed.cells if c.cell_type == "code"] == ran


def test_the_tour_imports_every_lab_module_before_it_plots():
    book = nbformat.read(ROOT / "docs" / "notebooks" / "01_tour.ipynb", as_version=4)
    first = next(c.source for c in book.cells if c.cell_type == "code")
    assert "pkgutil.walk_packages(lab.__path__" in first
    assert "plt.show()" not in [line.strip() for line in first.splitlines()]  # the figures come after the imports
    assert _outputs(book, "text/html")  # the Run and the model handle display as HTML
