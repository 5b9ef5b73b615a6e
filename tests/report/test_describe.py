"""lab.report.describe: a report names the task, model, training and swept values, and picks the best model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from lab.config import ModelConfig, TaskConfig, TrainConfig
from lab.launch.runner import grid_table
from lab.report.describe import (
    describe_model,
    describe_run,
    describe_task,
    describe_train,
    model_label,
    representative_model,
)
from lab.sweeps import expand, spec_from_dict
from tests.helpers import tiny_spec


def _grid(spec) -> pd.DataFrame:
    """The grid `lab sweep` would write for spec (no training)."""
    return grid_table(expand(spec))


def _metrics(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    """A metrics table from (model, step, test_acc, test_loss) rows."""
    return pd.DataFrame(rows, columns=["model", "step", "test_acc", "test_loss"])


def test_a_modular_task_names_its_op_modulus_training_share_and_which_pairs():
    text = describe_task(TaskConfig(name="modular", op="x*y", p=13, train_frac=0.4))
    assert text == "modular arithmetic x*y mod 13, trained on 40% of the pairs (a, b)"
    assert describe_task(TaskConfig(p=13, train_frac=0.4, symmetric=True)).endswith("of the pairs a <= b")
    fixed = describe_task(TaskConfig(p=113, split_from="nanda_demo_start"))
    assert fixed == ("modular arithmetic x+y mod 113, trained on 30% of the pairs (a, b) "
                     "(task.split_from = 'nanda_demo_start')")


def test_an_integer_task_names_its_operand_range_and_number_of_results():
    task = TaskConfig(name="integer", op="x+y", p=5, train_frac=0.5)
    text = describe_task(task)
    assert text.startswith("integer arithmetic x+y on [0, 5)")
    assert "(9 possible results)" in text  # a + b for a, b in [0, 5) is one of 0..8
    assert "mod" not in text


def test_parity_tasks_name_their_bits_and_example_counts():
    parity = describe_task(TaskConfig(name="parity", n_bits=12, k=3, n_train=100, n_test=200))
    assert "XOR of 3 of 12 bits" in parity and "100 training and 200 test examples" in parity
    multi = describe_task(TaskConfig(name="multitask_parity", n_tasks=5, zipf_exponent=1.2, n_bits=20, k=2,
                                     n_train=300, n_test=400))
    assert multi.startswith("multitask sparse parity: 5 subtasks (Zipf exponent 1.2)")
    assert "XOR of 2 of 20 bits" in multi and "300 training and 400 test examples" in multi


def test_a_skill_composition_task_says_its_rule_and_which_tuples_it_trains_on():
    base = TaskConfig(name="skill_composition", n_tasks=6, k=2, n_bits=12, compose_k=3, train_frac=0.5)
    counted = describe_task(base)
    assert "6 skills (parities of 2 of 12 bits)" in counted and "how many of them answer 1" in counted
    assert "50% of the 3-tuples and each skill alone" in counted and "tuples of 1..3 skills" in counted
    xor = describe_task(dataclasses.replace(base, compose_rule="xor", compose_mix=True, compose_singles=False,
                                            compose_test=4))
    assert "the parity of all their bits" in xor and "how many" not in xor
    assert "tuples of 2..3 skills," in xor and "each skill alone" not in xor
    assert "tested on tuples of 1..4 skills" in xor


def test_models_are_described_by_their_shape():
    mlp = describe_model(ModelConfig(kind="mlp", depth=2, width=64, activation="gelu", d_embed=16))
    assert mlp == "MLP (2 hidden layer(s) of width 64, gelu, learned embedding of 16, operands combined by concat)"
    onehot = describe_model(ModelConfig(kind="mlp", embedding="onehot", combine="sum"))
    assert "onehot embedding" in onehot and "learned" not in onehot and "combined by sum" in onehot
    transformer = describe_model(ModelConfig(kind="transformer", n_layers=2, d_model=64, n_heads=4, d_head=16,
                                             d_mlp=256, layer_norm=True))
    assert transformer == "2-layer transformer (d_model 64, 4 heads of 16, d_mlp 256, relu, LayerNorm)"
    assert describe_model(ModelConfig(kind="transformer")).endswith(", no LayerNorm)")
    started = describe_model(ModelConfig(kind="transformer", init_from="nanda_demo_start"))
    assert started.endswith(", no LayerNorm, initial weights from 'nanda_demo_start')")
    mlp_started = describe_model(ModelConfig(kind="mlp", init_from="w.npz"))
    assert mlp_started.endswith("by concat, initial weights from 'w.npz')")


def test_a_parity_model_reads_input_bits_and_says_what_else_it_reads():
    model = ModelConfig(kind="mlp", width=32)
    parity = describe_model(model, TaskConfig(name="parity", n_bits=10, k=2))
    assert parity.endswith("reading the 10 input bits") and "embedding" not in parity
    multi = describe_model(model, TaskConfig(name="multitask_parity", n_bits=10, k=2))
    assert multi.endswith("reading the 10 input bits and a one-hot task id")
    skills = describe_model(model, TaskConfig(name="skill_composition", n_bits=10, k=2))
    assert skills.endswith("and a multi-hot skill prefix")
    assert describe_model(model, TaskConfig(p=11)) == describe_model(model)  # a table task: the plain description


def test_training_is_described_with_its_optimizer_batches_and_extras():
    plain = describe_train(TrainConfig(optimizer="adamw", lr=3e-3, weight_decay=0.5, steps=700))
    assert plain == "adamw (lr 0.003, weight decay 0.5), 700 steps, full batch, loss cross_entropy in float32"
    batched = describe_train(TrainConfig(batch_size=32, grad_filter="grokfast_ema", grokfast_alpha=0.9,
                                         grokfast_lambda=4.0, orthogonal_grad=True, loss="stablemax"))
    assert " + Grokfast-EMA (alpha 0.9, lambda 4) + orthogonal gradient, " in batched
    assert "batches of 32" in batched and "loss stablemax" in batched
    ma = describe_train(TrainConfig(grad_filter="grokfast_ma", grokfast_window=50, grokfast_lambda=5.0))
    assert "Grokfast-MA (window 50, lambda 5)" in ma and "EMA" not in ma
    replay = describe_train(TrainConfig(batch_size=512, sampling="epochs", batches_from="grokfast_batches"))
    assert "batches of 512 in the order of train.batches_from = 'grokfast_batches'," in replay


def test_a_run_description_names_the_grid_size_and_every_swept_value_in_order():
    spec = tiny_spec(seeds=3, axes=[("train.weight_decay", (1.0, 0.0, 0.5)), ("task.train_frac", (0.5, 0.3))])
    lines = describe_run(spec, _grid(spec), n_groups=1).split("\n")
    assert lines[0] == f"- **task**: {describe_task(spec.task)}"
    assert lines[1] == f"- **model**: {describe_model(spec.model, spec.task)}"
    assert lines[2] == f"- **training**: {describe_train(spec.train)}"
    assert lines[3] == "- **grid**: 18 models = 6 setting(s) x 3 seed(s), trained in 1 group(s) of equal shapes"
    assert lines[4:] == ["- **swept** `train.weight_decay`: 0, 0.5, 1 (overrides the value above)",
                         "- **swept** `task.train_frac`: 0.3, 0.5 (overrides the value above)"]


def test_a_variant_sweep_is_described_by_what_each_variant_sets():
    raw = {"task": {"p": 11, "train_frac": 0.5}, "model": {"kind": "mlp", "d_embed": 8, "width": 16},
           "train": {"steps": 40, "log_every": 10, "checkpoints": 3, "lr": 1e-2},
           "sweep": {"seeds": 2, "variants": {"adamw": {"train.weight_decay": 1.0},
                                              "grokfast": {"train.grad_filter": "grokfast_ema",
                                                           "train.grokfast_lambda": 3.0}}}}
    spec = spec_from_dict(raw, name="methods")
    text = describe_run(spec, _grid(spec), n_groups=2)
    assert "4 models = 2 setting(s) x 2 seed(s), trained in 2 group(s)" in text
    assert "- **variant** `adamw`: train.weight_decay = 1.0 (overrides the value above)" in text
    assert ("- **variant** `grokfast`: train.grad_filter = grokfast_ema, train.grokfast_lambda = 3.0 "
            "(overrides the value above)") in text
    assert "**swept**" not in text


def test_a_run_with_nothing_swept_is_one_setting_with_no_swept_lines():
    spec = tiny_spec(seeds=1)
    text = describe_run(spec, _grid(spec), n_groups=1)
    assert "1 models = 1 setting(s) x 1 seed(s)" in text
    assert "swept" not in text and "variant" not in text


def test_the_representative_model_has_the_best_final_test_accuracy_not_the_best_ever():
    metrics = _metrics([(0, 0, 0.1, 2.0), (0, 100, 1.0, 0.1), (0, 200, 0.5, 1.0),  # best early, worse at the end
                        (1, 0, 0.1, 2.0), (1, 100, 0.6, 0.9), (1, 200, 0.8, 0.5),
                        (2, 0, 0.1, 2.0), (2, 100, 0.2, 1.5), (2, 200, 0.7, 0.7)])
    assert representative_model(metrics) == 1
    assert representative_model(metrics.sample(frac=1.0, random_state=0)) == 1  # row order does not matter


def test_ties_in_final_accuracy_go_to_the_lower_test_loss_then_the_lower_index():
    tied_loss = _metrics([(0, 10, 0.9, 0.5), (1, 10, 0.9, 0.2), (2, 10, 0.9, 0.2), (3, 10, 0.3, 0.1)])
    assert representative_model(tied_loss) == 1
    assert representative_model(tied_loss[tied_loss.model != 1]) == 2
    with_nan = _metrics([(0, 10, np.nan, np.nan), (1, 10, 0.2, 3.0)])  # a diverged model is not chosen
    assert representative_model(with_nan) == 1


def test_a_model_label_names_its_swept_values_and_seed_and_keeps_integers_integers():
    spec = tiny_spec(seeds=2, axes=[("train.weight_decay", (0.0, 1.0)), ("task.p", (11, 13))])
    grid = _grid(spec)
    for model in grid.model:
        row = grid.set_index("model").loc[model]
        assert model_label(grid, model) == (f"model {model} (weight_decay={row['train.weight_decay']:.1f}, "
                                            f"p={int(row['task.p'])}, seed={int(row['train.seed'])})")
    assert model_label(_grid(tiny_spec(seeds=2)), 1) == "model 1 (seed=1)"
    assert model_label(pd.DataFrame({"model": [0, 1], "group": [0, 0]}), 1) == "model 1"
