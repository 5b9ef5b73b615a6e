"""The package's import graph follows the data flow: no module imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import lab

# bottom to top: spec -> grid -> state -> train -> checkpoints -> analyses -> report -> launching
LAYERS = (
    ("lab.errors", "lab.initializer_text"),
    ("lab.config",),
    ("lab.tasks", "lab.models", "lab.references"),
    ("lab.sweeps",),
    ("lab.train",),
    ("lab.checkpoints",),
    ("lab.analysis",),
    ("lab.plots",),
    ("lab.report",),
    ("lab.launch",),
    ("lab.cli", "lab"),
)
ROOT = Path(lab.__file__).parent


def _unit(module: str) -> str:
    """The layer unit of a module: its package under lab (lab.train.step -> lab.train), or the module itself."""
    return ".".join(module.split(".")[:2])


def _rank(module: str) -> int:
    unit = _unit(module)
    for rank, units in enumerate(LAYERS):
        if unit in units:
            return rank
    raise AssertionError(f"{module} is in no layer of tests/test_layers.py: add {unit} to LAYERS")


def _imports(path: Path) -> list[str]:
    """Every lab module a file imports, at its top or inside a function (`from lab import x` -> lab.x)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lab":
            if node.module == "lab":
                out += [f"lab.{a.name}" if (ROOT / a.name).exists() or (ROOT / f"{a.name}.py").exists() else "lab"
                        for a in node.names]
            else:
                out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "lab"]
    return out


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_import_goes_down_the_layers():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_of(path)
        for target in _imports(path):
            if _unit(target) != _unit(module) and _rank(target) > _rank(module):
                upward.append(f"{module} imports {target}")
    assert not upward, "imports from a layer above: " + "; ".join(upward)


def test_every_package_has_a_layer():
    units = {_unit(_module_of(p)) for p in ROOT.rglob("*.py")}
    assert all(_rank(u) >= 0 for u in units)
