"""Sweeps: spec files, the per-model numbers and the grid of models (running one: `lab.launch`)."""

from lab.sweeps.grid import Group, axes_of, expand
from lab.sweeps.hparams import HParams, hparams_of
from lab.sweeps.spec import apply_overrides, load_spec, parse_override, spec_from_dict

__all__ = ["Group", "HParams", "apply_overrides", "axes_of", "expand", "hparams_of", "load_spec", "parse_override",
           "spec_from_dict"]
