"""Launching sweeps: `lab.sweep(spec_or_path, out=None, set={...})` from Python, and the runner behind it
and `lab sweep` (the top layer: it trains, checkpoints and logs through every layer below)."""

from lab.launch.entry import default_out, resolve_spec, sweep
from lab.launch.runner import run_sweep

__all__ = ["default_out", "resolve_spec", "run_sweep", "sweep"]
