"""Run every notebook of this folder in a real Jupyter kernel and save it with its outputs.

    cd docs/notebooks && ../../.venv/bin/python execute.py [NAME.ipynb ...]

The notebooks train into ../../checkpoints/quickstart (the README's quickstart run: resumed if it is there).
Needs the test extra (nbclient, ipykernel): pip install -e '.[test]'.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent


def main(names: list[str]) -> None:
    for path in [HERE / n for n in names] or sorted(HERE.glob("*.ipynb")):
        book = nbformat.read(path, as_version=4)
        NotebookClient(book, timeout=900, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(HERE)}}).execute()
        nbformat.write(book, path)
        print(f"executed {path.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
