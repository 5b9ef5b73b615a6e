"""Sweeps: spec files, the grid of models, and running a whole sweep into a run directory."""

from lab.sweeps.grid import Group, axes_of, expand
from lab.sweeps.spec import apply_overrides, load_spec, parse_override, spec_from_dict

__all__ = ["Group", "apply_overrides", "axes_of", "expand", "load_spec", "parse_override", "spec_from_dict"]
