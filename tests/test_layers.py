"""The package's layout: its import graph follows the data flow (no module imports from a layer above its own), and
the test tree mirrors it, one test module per module."""

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
TESTS = Path(__file__).parent
# test modules of the whole package rather than of one module
PACKAGE_LEVEL = {"test_layers.py": "the package's layout", "test_notebooks.py": "docs/notebooks, in a real kernel",
                 "test_bench.py": "bench/, outside the package: its FLOP formula and GPU script"}


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


def test_the_tests_mirror_the_package():
    """tests/<pkg>/test_<module>.py for every lab/<pkg>/<module>.py, and no test module without its module. A package's
    __init__.py is tested through the modules beside it (tests/<pkg>/ as a whole)."""
    tests = sorted(p.relative_to(TESTS) for p in TESTS.rglob("test_*.py"))
    stray = [str(t) for t in tests if str(t) not in PACKAGE_LEVEL
             and not (ROOT / t.parent / t.name.removeprefix("test_")).is_file()]
    assert not stray, f"test modules that mirror no module of lab/: {stray}"
    modules = sorted(p.relative_to(ROOT) for p in ROOT.rglob("*.py") if p.name != "__init__.py")
    untested = [str(m) for m in modules if not (TESTS / m.parent / f"test_{m.name}").is_file()]
    assert not untested, f"modules of lab/ without their test module tests/<pkg>/test_<module>.py: {untested}"
    unpackaged = [str(d.relative_to(TESTS)) for d in TESTS.rglob("*") if d.is_dir() and d.name != "__pycache__"
                  and not (d / "__init__.py").is_file()]
    assert not unpackaged, f"test folders without __init__.py (test module names would clash): {unpackaged}"
