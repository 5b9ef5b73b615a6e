"""`lab.sweep(...)`: launch (or resume) a sweep from Python and get its `Run` back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.checkpoints import Run, open_run
from lab.config import Spec
from lab.launch.runner import run_sweep
from lab.sweeps import apply_overrides, load_spec, spec_from_dict


def resolve_spec(spec_or_path: Spec | str | Path | dict, overrides: dict[str, Any] | list[str] | None = None) -> Spec:
    """A validated spec from a `Spec`, a raw spec dict or a TOML path, with overrides applied."""
    overrides = overrides or {}
    if isinstance(spec_or_path, Spec):
        return spec_from_dict(apply_overrides(spec_or_path.to_dict(), overrides), name=spec_or_path.name)
    if isinstance(spec_or_path, dict):
        return spec_from_dict(apply_overrides(spec_or_path, overrides), name=str(spec_or_path.get("name", "sweep")))
    return load_spec(spec_or_path, overrides)


def default_out(spec: Spec) -> Path:
    """Where a sweep writes when no folder is given: checkpoints/<spec name>."""
    return Path("checkpoints") / spec.name


def sweep(spec_or_path: Spec | str | Path | dict, out: str | Path | None = None, set: dict[str, Any] | None = None,
          progress: bool = True) -> Run:
    """Train (or resume) every model of a sweep, as `lab sweep` does, and return its `Run`.

        run = lab.sweep("sweeps/quickstart.toml", set={"train.steps": 2000, "sweep.train.weight_decay": [0.0, 1.0]})

    Args:
        spec_or_path: a TOML spec file, a `lab.config.Spec`, or a raw spec dict (as in a TOML file).
        out: the run directory (default: checkpoints/<spec name>).
        set: overrides {"section.key": value}, as the CLI's --set (sweep.<field> sets an axis).
        progress: show a progress bar (a notebook widget in Jupyter when ipywidgets is installed).

    Returns:
        The finished run, `lab.open(out)`.

    Raises:
        lab.LabError (or SpecError): a bad spec or override, or an `out` folder that holds another
        spec, a file, or a run that another live `lab sweep` is writing; nothing there is changed.
    """
    spec = resolve_spec(spec_or_path, set)
    out = default_out(spec) if out is None else Path(out)
    run_sweep(spec, out, progress=progress)
    run = open_run(out)
    if progress:
        print(f"{spec.name}: {len(run.grid)} models trained to step {run.steps[-1]} in {out}")
    return run
