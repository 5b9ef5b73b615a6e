"""lab.sweeps.hparams: rows override the spec field by field, dtypes, a pytree on the model axis, import check."""

from __future__ import annotations

import dataclasses
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lab.config
from lab.config import HPARAM_FIELDS
from lab.sweeps import expand, hparams
from lab.sweeps.hparams import HParams, hparams_of
from tests.helpers import tiny_spec

# every per-model field away from its default, so a fallback to the wrong field would show
SPEC = dataclasses.replace(
    tiny_spec(lr=3e-3, weight_decay=0.5, seed=4, grokfast_alpha=0.9, grokfast_lambda=3.0),
    model=dataclasses.replace(tiny_spec().model, init_scale=0.7),
    task=dataclasses.replace(tiny_spec().task, data_seed=9, train_frac=0.6))
ROWS = [{}, {"train.lr": 0.5, "train.seed": 11},
        {"task.data_seed": 2, "model.init_scale": 2.0, "task.train_frac": 0.25, "train.grokfast_lambda": 0.0}]


def test_each_field_is_the_rows_value_else_the_specs():
    hp = hparams_of(SPEC, ROWS)
    assert isinstance(hp, HParams) and set(HParams._fields) == set(HPARAM_FIELDS)
    section_of = {"train": SPEC.train, "model": SPEC.model, "task": SPEC.task}
    for name, dotted in HPARAM_FIELDS.items():
        section, field = dotted.split(".")
        default = getattr(section_of[section], field)
        expected = [row.get(dotted, default) for row in ROWS]
        column = getattr(hp, name)
        assert column.shape == (3,) and column.dtype == (np.int32 if "seed" in name else np.float32), name
        np.testing.assert_array_equal(column, np.asarray(expected, column.dtype), err_msg=name)
    assert hp.lr.tolist() == [np.float32(3e-3), 0.5, np.float32(3e-3)] and hp.seed.tolist() == [4, 11, 4]


def test_a_row_gives_the_numbers_of_the_spec_with_its_fields_set():
    hp = hparams_of(SPEC, ROWS)
    for m, row in enumerate(ROWS):
        alone = hparams_of(SPEC.replace_all(row), [{}])
        for name in HParams._fields:
            assert getattr(alone, name).tolist() == [getattr(hp, name)[m]], (m, name)


def test_fields_that_are_not_per_model_numbers_are_not_read():
    plain = hparams_of(SPEC, [{}])
    shaped = hparams_of(SPEC, [{"model.width": 64, "train.steps": 7, "sweep.seeds": 3}])
    assert all(np.array_equal(a, b) for a, b in zip(plain, shaped))
    empty = hparams_of(SPEC, [])
    assert all(v.shape == (0,) for v in empty)
    assert empty.seed.dtype == np.int32 and empty.lr.dtype == np.float32


def test_a_sweeps_numbers_are_one_column_per_model_in_grid_order():
    spec = tiny_spec(seeds=2, axes=[("train.lr", (1e-2, 3e-2)), ("train.weight_decay", (0.0, 1.0))])
    (group,) = expand(spec)
    hp = group.hparams()
    assert hp.lr.shape == (8,)
    for m, numbers in enumerate(group.numbers):
        assert hp.lr[m] == np.float32(numbers["train.lr"]) and hp.weight_decay[m] == numbers["train.weight_decay"]
        assert hp.seed[m] == numbers["train.seed"]
    assert sorted(zip(hp.lr.tolist(), hp.weight_decay.tolist(), hp.seed.tolist())) == sorted(
        (float(np.float32(lr)), wd, s) for lr in (1e-2, 3e-2) for wd in (0.0, 1.0) for s in (0, 1))


def test_hparams_are_a_pytree_that_vmaps_over_the_model_axis():
    hp = jax.tree.map(jnp.asarray, hparams_of(SPEC, ROWS))
    leaves, treedef = jax.tree.flatten(hp)
    assert len(leaves) == len(HParams._fields) and isinstance(jax.tree.unflatten(treedef, leaves), HParams)
    scaled_M = jax.vmap(lambda h: h.lr * h.init_scale + h.seed.astype(jnp.float32))(hp)
    np.testing.assert_allclose(scaled_M, [3e-3 * 0.7 + 4, 0.5 * 0.7 + 11, 3e-3 * 2.0 + 4], rtol=1e-6)
    first = jax.tree.map(lambda v: v[1], hp)
    assert first.lr.shape == () and int(first.seed) == 11


def test_importing_with_fields_that_differ_from_the_config_list_fails(monkeypatch):
    monkeypatch.setattr(lab.config, "HPARAM_FIELDS", {**HPARAM_FIELDS, "dropout": "train.dropout"})
    copy = importlib.util.spec_from_file_location("hparams_copy", hparams.__file__)
    with pytest.raises(ImportError, match=r"HParams fields \('lr', .*\) differ from lab.config.HPARAM_FIELDS "
                                          r"\('lr', .*'dropout'\)"):
        copy.loader.exec_module(importlib.util.module_from_spec(copy))
    monkeypatch.setattr(lab.config, "HPARAM_FIELDS", HPARAM_FIELDS)
    module = importlib.util.module_from_spec(copy)
    copy.loader.exec_module(module)  # the real list imports
    assert module.HParams._fields == HParams._fields
