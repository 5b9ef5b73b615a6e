"""lab.report.neurons: seed siblings, the inputs neurons are measured on, heuristic scores, rankings, families."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lab.analysis import heuristics
from lab.analysis.activations import activation_table
from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig
from lab.launch.runner import grid_table
from lab.report import neurons
from lab.report.skip import Skip
from lab.sweeps import expand
from tests.helpers import tiny_spec


def _with_task(spec: Spec, **task) -> Spec:
    return dataclasses.replace(spec, task=dataclasses.replace(spec.task, **task))


def _parity_spec(n_bits: int, k: int = 2, name: str = "parity") -> Spec:
    return Spec(task=TaskConfig(name=name, n_bits=n_bits, k=k, n_train=100, n_test=100),
                model=ModelConfig(kind="mlp", width=16), train=TrainConfig(steps=40), sweep=SweepConfig(seeds=2))


def _grid_acts(spec: Spec, columns: list[np.ndarray]) -> np.ndarray:
    return np.stack(columns, axis=1).astype(np.float32)


def test_seed_siblings_are_the_models_of_the_same_setting_with_the_model_first(lr_run):
    grid = lr_run.grid
    for model in grid.model:
        lr = grid.set_index("model").loc[model, "train.lr"]
        siblings = neurons.seed_siblings(grid, model)
        assert siblings[0] == model and len(siblings) == len(set(siblings)) == 2
        assert set(siblings) == set(grid[grid["train.lr"] == lr].model)


def test_seed_siblings_match_every_swept_value_and_take_all_models_when_nothing_is_swept():
    grid = grid_table(expand(tiny_spec(seeds=3, axes=[("train.weight_decay", (0.0, 1.0)), ("train.lr", (1e-3, 1e-2))])))
    rows = grid.set_index("model")
    for model in grid.model:
        siblings = neurons.seed_siblings(grid, model)
        assert siblings[0] == model and len(siblings) == 3
        same = rows.loc[siblings, ["train.weight_decay", "train.lr"]]
        assert (same == rows.loc[model, ["train.weight_decay", "train.lr"]]).all().all()
        assert sorted(rows.loc[siblings, "train.seed"]) == [0, 1, 2]
    assert neurons.seed_siblings(grid_table(expand(tiny_spec(seeds=4))), 2) == [2, 0, 1, 3]


def test_a_table_task_is_measured_on_every_labelled_pair():
    x, y = neurons.dataset(_with_task(tiny_spec(), name="integer", op="x-y", p=5))
    x = np.asarray(x)
    assert x.shape == (25, 2)
    np.testing.assert_array_equal(x[:, 0] * 5 + x[:, 1], np.arange(25))
    np.testing.assert_array_equal(y, x[:, 0] - x[:, 1] + 4)  # class c is the result -4 + c
    x, y = neurons.dataset(_with_task(tiny_spec(), op="x/y", p=7))
    a, b = np.asarray(x).T
    assert len(y) == 7 * 6 and b.min() == 1  # no label for b = 0
    np.testing.assert_array_equal((y * b) % 7, a)


def test_a_small_parity_task_is_measured_on_every_input_and_a_large_one_on_a_sample():
    x, y = neurons.dataset(_parity_spec(n_bits=8, k=3))
    x = np.asarray(x)
    assert x.shape == (2 ** 8, 8) and len({tuple(row) for row in x}) == 2 ** 8  # every input once
    assert set(np.unique(x)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, (x[:, :3] < 0).sum(axis=1) % 2)  # bit 1 is -1; the parity of the first 3
    x, y = neurons.dataset(_parity_spec(n_bits=24))
    assert np.asarray(x).shape == (neurons.PARITY_ROWS, 24) and y.shape == (neurons.PARITY_ROWS,)


@pytest.mark.parametrize("name", ["multitask_parity", "skill_composition"])
def test_tasks_without_one_input_table_skip_the_neuron_figures_naming_the_task(name):
    with pytest.raises(Skip, match=f"neuron tables are defined for modular, integer and parity tasks .*{name}"):
        neurons.dataset(_parity_spec(n_bits=8, name=name))


def test_the_grid_task_is_the_task_over_all_pairs_and_parity_has_none():
    task = _with_task(tiny_spec(), symmetric=True, op="x*y").task
    grid = neurons.grid_task(dataclasses.replace(tiny_spec(), task=task))
    assert grid == dataclasses.replace(task, symmetric=False) and task.symmetric
    with pytest.raises(Skip, match="heuristics are patterns over the \\(a, b\\) grid; this task is parity"):
        neurons.grid_task(_parity_spec(n_bits=8))


def test_heuristic_scores_find_planted_patterns_and_match_only_live_well_scored_neurons():
    spec = _with_task(tiny_spec(), symmetric=True)  # scored over every pair all the same
    v = heuristics.grid_values(neurons.grid_task(spec))
    noise = np.random.default_rng(0).normal(size=len(v["a"]))
    acts = _grid_acts(spec, [v["a"] == v["b"], np.ones_like(noise), noise, v["a"] < 5, v["result"] % 3 == 1])
    table = neurons.heuristic_scores(acts, spec)
    assert list(table.neuron) == [0, 1, 2, 3, 4]
    assert table.family[0] == "identical operands" and table.score[0] == pytest.approx(1.0, abs=1e-5)
    assert table.family[3] == "operand range" and table.family[4] == "result residue"
    assert list(table.dead) == [False, True, False, False, False]
    assert table.matches.equals((table.score >= neurons.MATCH) & ~table.dead)
    assert list(table.matches) == [True, False, table.score[2] >= neurons.MATCH, True, True]


def test_the_heuristic_ranking_puts_high_scores_first_dead_neurons_last_and_keeps_ties_in_order():
    table = pd.DataFrame({"neuron": [0, 1, 2, 3, 4, 5], "score": [0.2, 0.9, 0.5, 0.99, 0.5, 0.0],
                          "dead": [False, False, False, True, False, True]})
    assert list(neurons.heuristic_ranking(table)) == [1, 2, 4, 0, 3, 5]


def test_a_modular_model_over_the_full_grid_gets_families_by_dominant_frequency():
    spec = tiny_spec()
    v = heuristics.grid_values(neurons.grid_task(spec))
    waves = [np.cos(2 * np.pi * k * v["result"] / 11) for k in (3, 1, 5)] + [np.sin(2 * np.pi * 2 * v["a"] / 11)]
    universal = np.array([True, False, True, False])
    table, label = neurons.families(_grid_acts(spec, waves), {}, spec, universal)
    assert label == "dominant frequency"
    assert list(table.family) == [3, 1, 5, 2] and list(table.universal) == list(universal)
    np.testing.assert_allclose(table.fraction, 1.0, atol=1e-5)  # each neuron is one frequency


def test_other_table_tasks_get_families_by_best_heuristic():
    spec = _with_task(tiny_spec(), op="x/y", p=7)  # b = 0 has no label: not the full grid
    v = heuristics.grid_values(neurons.grid_task(spec))
    acts = _grid_acts(spec, [v["a"] % 2 == 0, v["b"] < 4])
    assert acts.shape[0] == 7 * 6
    table, label = neurons.families(acts, {}, spec, np.array([False, True]))
    assert label == "best heuristic family"
    assert list(table.family) == ["operand residue", "operand range"] and list(table.universal) == [False, True]
    assert list(table.pattern) == ["a = 0 mod 2", "b in [1, 4)"]
    integer = _with_task(tiny_spec(), name="integer", p=5)
    v = heuristics.grid_values(neurons.grid_task(integer))
    _, label = neurons.families(_grid_acts(integer, [v["result"] >= 4]), {}, integer, np.array([True]))
    assert label == "best heuristic family"


def test_a_parity_model_gets_families_by_the_bits_it_weighs_most():
    w_in = np.full((8, 3), 0.01)
    w_in[[1, 6], 0] = [2.0, -3.0]
    w_in[[0, 2], 1] = [1.0, 1.0]
    w_in[[4, 7], 2] = [-1.0, 0.5]
    table, label = neurons.families(np.zeros((256, 3)), {"W_in": w_in}, _parity_spec(n_bits=8), np.ones(3, bool))
    assert label == "bits read"
    assert list(table.family) == ["1,6", "0,2", "4,7"] and table.universal.all()


def test_activation_tables_are_each_models_last_layer_at_the_asked_step(lr_run):
    spec = lr_run.spec_of(0)
    x, _ = neurons.dataset(spec)
    last, first = neurons.tables_of(lr_run, [0, 3], x), neurons.tables_of(lr_run, [0, 3], x, lr_run.steps[0])
    assert [t.shape for t in last] == [(spec.task.p ** 2, spec.model.width)] * 2
    for model, table in zip([0, 3], last):
        np.testing.assert_array_equal(table, activation_table(lr_run.model(model, lr_run.steps[-1]), x=x))
    np.testing.assert_array_equal(first[1], activation_table(lr_run.model(3, lr_run.steps[0]), x=x))
    assert not np.allclose(last[0], last[1]) and not np.allclose(last[0], first[0])
