"""lab.analysis.heuristics: heuristic-neuron scoring on hand-built models and tables of every family."""

from __future__ import annotations

import jax
import numpy as np

from lab import models
from lab.analysis.heuristics import (
    FAMILIES,
    candidates,
    grid_values,
    score_neurons,
    top_prompt_labels,
)
from lab.config import ModelConfig, TaskConfig
from lab.tasks import all_pairs

N = 30
TASK = TaskConfig(name="integer", op="x+y", p=N)


def _hand_built_mlp():
    """A one-hidden-layer MLP on one-hot operands whose 4 neurons implement known heuristics."""
    cfg = ModelConfig(kind="mlp", embedding="onehot", width=4)
    params = jax.tree.map(np.asarray, models.init(jax.random.key(0), cfg, TASK))
    values = np.arange(N, dtype=np.float32)
    w_in = np.zeros((2 * N, 4), np.float32)  # rows 0..N-1 read a, rows N..2N-1 read b
    w_in[:N, 0] = np.where((values >= 15) & (values < 22), 1.0, -5.0)  # a in [15, 22)
    w_in[:N, 1] = np.where(values % 4 == 1, 1.0, -5.0)  # a = 1 mod 4
    w_in[:N, 2], w_in[N:, 2] = values, values  # relu(a + b - 40): fires only for large sums
    w_in[N:, 3] = np.cos(2 * np.pi * 7 * values / N)  # relu(cos(2 pi 7 b / 30)): periodic in b
    b_in = np.asarray([0.0, 0.0, -40.0, 0.0], np.float32)
    return cfg, {**params, "W_in": w_in, "b_in": b_in}


def test_a_hand_built_model_is_classified_correctly():
    cfg, params = _hand_built_mlp()
    x = all_pairs(TASK)[0]
    _, acts = models.run_with_cache(params, x, cfg, TASK)
    table = score_neurons(np.asarray(acts["mlp_post_0"]), TASK)
    assert table.family.tolist() == ["operand range", "operand residue", "result range", "periodic"]
    assert table.pattern[0] == "a in [15, 22)" and table.pattern[1] == "a = 1 mod 4"
    assert table.pattern[3] == "b: frequency 7 (period 4.29)"
    np.testing.assert_allclose(table.score[:2], 1.0, atol=1e-6)  # exact indicator patterns
    assert table.pattern[2].startswith("result in [") and int(table.pattern[2].split("[")[1].split(",")[0]) >= 40
    assert table.score[2] > 0.7 and table.score[3] > 0.9  # a ramp matches a window less than exactly
    assert set(FAMILIES) <= set(table.columns)


def test_tables_of_every_family_are_recognized():
    v = grid_values(TASK)
    rng = np.random.default_rng(0)
    planted = {
        "identical operands": (v["a"] == v["b"]).astype(float),
        "result residue": (v["result"] % 5 == 2).astype(float),
        "result range": ((v["result"] >= 27) & (v["result"] < 34)).astype(float),
        "operand residue": (v["b"] % 3 == 0).astype(float),
        "periodic": np.cos(2 * np.pi * 4 * v["result"] / N + 0.7),  # any phase
    }
    acts_GxF = np.stack(list(planted.values()), axis=1) + 0.05 * rng.normal(size=(len(v["a"]), len(planted)))
    table = score_neurons(acts_GxF, TASK)
    assert table.family.tolist() == list(planted)
    assert table.pattern.tolist()[:4] == ["a == b", "result = 2 mod 5", "result in [27, 34)", "b = 0 mod 3"]
    assert table.pattern[4] == "result: frequency 4 (period 7.5)" and table.score[4] > 0.95
    # Pure noise matches nothing well.
    noise = score_neurons(rng.normal(size=(len(v["a"]), 20)), TASK)
    assert noise.score.max() < 0.25


def test_candidates_cover_each_family_and_drop_constant_patterns():
    cands = candidates(TaskConfig(name="modular", op="x+y", p=11))
    assert set(cands.family) == set(FAMILIES)
    assert all(p.std() > 1e-9 for p in cands.patterns_KxG)
    assert "a: frequency 25 (sin)" not in candidates(TASK.__class__(name="integer", p=50)).description  # sin(pi a) = 0


def test_the_top_prompt_rule_labels_the_hand_built_neurons():
    cfg, params = _hand_built_mlp()
    _, acts = models.run_with_cache(params, all_pairs(TASK)[0], cfg, TASK)
    labels = top_prompt_labels(np.asarray(acts["mlp_post_0"]), TASK)
    # neurons constant on their region keep it whole (ties), and the tightest rule covering it wins
    assert labels.pattern[0] == "a in [15, 22)" and labels.n_top[0] == 7 * N and labels.fit[0] == 1.0
    assert labels.pattern[1] == "a = 1 mod 4" and labels.fit[1] == 1.0
    assert labels.family[2] == "result range" and labels.labelled[:3].all()
    assert labels.base_rate[0] == 7 / N
    noise = np.random.default_rng(0).normal(size=(N * N, 3))  # no rule fits random activations
    assert not top_prompt_labels(noise, TASK).labelled.any()
