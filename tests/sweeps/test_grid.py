"""lab.sweeps.grid: variants as one axis sharing groups where shapes allow, and seed-data splits per seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lab.analysis.summary import setting_columns
from lab.config import SpecError
from lab.launch import runner
from lab.sweeps import expand, spec_from_dict
from lab.sweeps.spec import apply_overrides


def test_variants_are_one_axis_and_share_groups_where_shapes_allow(spec_factory):
    raw = {"task": {"p": 11, "train_frac": 0.5}, "model": {"kind": "mlp", "d_embed": 8, "width": 16},
           "train": {"steps": 40, "log_every": 10, "checkpoints": 3, "lr": 1e-2},
           "sweep": {"seeds": 2, "train.lr": [1e-2, 3e-3], "variants": {
               "adamw": {"train.weight_decay": 1.0},
               "no_wd": {"train": {"weight_decay": 0.0}},
               "grokfast": {"train.grad_filter": "grokfast_ema", "train.grokfast_lambda": 2.0},
               "stablemax": {"train.loss": "stablemax", "train.weight_decay": 0.0, "train.orthogonal_grad": True}}}}
    spec = spec_from_dict(raw)
    groups = expand(spec)
    assert [g.size for g in groups] == [8, 4, 4]  # adamw + no_wd differ only in a per-model number
    assert groups[1].spec.train.grad_filter == "grokfast_ema" and groups[2].spec.train.loss == "stablemax"
    assert np.asarray(groups[0].hparams().weight_decay).tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert spec_from_dict(spec.to_dict()) == spec  # round trip through run.json
    # A variant that leaves a per-model number alone gets the spec's value, whoever shares its group.
    mixed = spec_from_dict({**raw, "sweep": {"variants": {"a": {"train.weight_decay": 0.5}, "b": {"train.lr": 0.02}}}})
    (group,) = expand(mixed)
    assert np.asarray(group.hparams().weight_decay).tolist() == [0.5, 1.0]
    np.testing.assert_allclose(group.hparams().lr, [0.01, 0.02])
    overridden = spec_from_dict(apply_overrides(raw, ["sweep.seeds=1", "train.steps=20"]))
    assert overridden.sweep.variants == spec.sweep.variants and overridden.sweep.seeds == 1
    with pytest.raises(SpecError, match="sweep.variants.adamw sets 'train.lr', which is also a sweep axis"):
        spec_from_dict({**raw, "sweep": {"train.lr": [1e-2], "variants": {"adamw": {"train.lr": 1e-3}}}})
    with pytest.raises(SpecError, match="unknown key 'train.grokfast'"):
        spec_from_dict({**raw, "sweep": {"variants": {"bad": {"train.grokfast": 1.0}}}})
    with pytest.raises(SpecError, match="train.grad_filter = 'fast'"):
        spec_from_dict({**raw, "sweep": {"variants": {"bad": {"train.grad_filter": "fast"}}}})


def test_seed_data_gives_each_seed_its_own_split_and_stays_a_seed(spec_factory):
    spec = dataclasses.replace(spec_factory(seeds=3), sweep=dataclasses.replace(spec_factory(seeds=3).sweep,
                                                                                  seed_data=True))
    (group,) = expand(spec)
    assert [n["task.data_seed"] for n in group.numbers] == [0, 1, 2]
    assert spec_from_dict(spec.to_dict()) == spec
    grid = runner.grid_table([group])
    assert list(grid["task.data_seed"]) == [0, 1, 2] and setting_columns(grid) == []  # seeds, not settings
