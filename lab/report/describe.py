"""Words for a report: what a spec trains, which model stands for the sweep, and which model that is."""

from __future__ import annotations

import pandas as pd

from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.report.figures import setting_keys, setting_label


def describe_task(task: TaskConfig) -> str:
    if task.is_table:
        pairs = "pairs a <= b" if task.symmetric else "pairs (a, b)"
        what = (f"modular arithmetic {task.op} mod {task.p}" if task.name == "modular" else
                f"integer arithmetic {task.op} on [0, {task.p}) ({task.n_classes} possible results)")
        split = f" (task.split_from = {task.split_from!r})" if task.split_from else ""
        return f"{what}, trained on {task.train_frac:.0%} of the {pairs}{split}"
    if task.name == "parity":
        return (f"sparse parity: the label is the XOR of {task.k} of {task.n_bits} bits; {task.n_train} training "
                f"and {task.n_test} test examples")
    if task.name == "skill_composition":
        label = "how many of them answer 1" if task.compose_rule == "count" else "the parity of all their bits"
        return (f"skill composition: {task.n_tasks} skills (parities of {task.k} of {task.n_bits} bits); an example "
                f"names a tuple of skills and its label is {label}; trained on {task.train_frac:.0%} of the "
                + (f"tuples of 2..{task.compose_k} skills" if task.compose_mix else f"{task.compose_k}-tuples")
                + (" and each skill alone" if task.compose_singles else "")
                + f", tested on tuples of 1..{task.test_sizes} skills never trained together; {task.n_train} "
                f"training and {task.n_test} test examples")
    return (f"multitask sparse parity: {task.n_tasks} subtasks (Zipf exponent {task.zipf_exponent}), each the XOR "
            f"of {task.k} of {task.n_bits} bits; {task.n_train} training and {task.n_test} test examples")


def describe_model(model: ModelConfig, task: TaskConfig | None = None) -> str:
    if task is not None and not task.is_table:
        return (f"MLP ({model.depth} hidden layer(s) of width {model.width}, {model.activation}) reading the "
                f"{task.n_bits} input bits" + ({"multitask_parity": " and a one-hot task id",
                                             "skill_composition": " and a multi-hot skill prefix"}.get(task.name, "")))
    start = f", initial weights from {model.init_from!r}" if model.init_from else ""
    if model.kind == "transformer":
        norm = ", LayerNorm" if model.layer_norm else ", no LayerNorm"
        return (f"{model.n_layers}-layer transformer (d_model {model.d_model}, {model.n_heads} heads of "
                f"{model.d_head}, d_mlp {model.d_mlp}, {model.activation}{norm}{start})")
    embed = f"learned embedding of {model.d_embed}" if model.embedding == "learned" else f"{model.embedding} embedding"
    return (f"MLP ({model.depth} hidden layer(s) of width {model.width}, {model.activation}, {embed}, "
            f"operands combined by {model.combine}{start})")


def describe_train(train: TrainConfig) -> str:
    batch = "full batch" if train.batch_size == 0 else f"batches of {train.batch_size}"
    if train.batches_from:
        batch += f" in the order of train.batches_from = {train.batches_from!r}"
    extras = []
    if train.grad_filter == "grokfast_ema":
        extras.append(f"Grokfast-EMA (alpha {train.grokfast_alpha:g}, lambda {train.grokfast_lambda:g})")
    elif train.grad_filter == "grokfast_ma":
        extras.append(f"Grokfast-MA (window {train.grokfast_window}, lambda {train.grokfast_lambda:g})")
    if train.orthogonal_grad:
        extras.append("orthogonal gradient")
    return (f"{train.optimizer} (lr {train.lr:g}, weight decay {train.weight_decay:g})"
            + "".join(f" + {e}" for e in extras)
            + f", {train.steps} steps, {batch}, loss {train.loss} in {train.loss_precision}")


def describe_run(spec: Spec, grid: pd.DataFrame, n_groups: int) -> str:
    """A few Markdown lines: task, model, training and the grid (its size and swept values)."""
    keys = setting_keys(grid)
    n_settings = len(grid.groupby(keys)) if keys else 1
    seeds = grid["train.seed"].nunique() if "train.seed" in grid else 1
    lines = [
        f"- **task**: {describe_task(spec.task)}",
        f"- **model**: {describe_model(spec.model, spec.task)}",
        f"- **training**: {describe_train(spec.train)}",
        f"- **grid**: {len(grid)} models = {n_settings} setting(s) x {seeds} seed(s), trained in {n_groups} "
        f"group(s) of equal shapes",
    ]
    for key in keys:
        if key == "variant":
            for name, fields in spec.sweep.variants:
                sets = ", ".join(f"{k} = {v}" for k, v in fields)
                lines.append(f"- **variant** `{name}`: {sets} (overrides the value above)")
            continue
        values = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in sorted(grid[key].unique()))
        lines.append(f"- **swept** `{key}`: {values} (overrides the value above)")
    return "\n".join(lines)


def representative_model(metrics: pd.DataFrame) -> int:
    """The model with the highest final test accuracy (ties: lower final test loss, then lower index)."""
    last = metrics.sort_values("step").groupby("model").tail(1)
    best = last.sort_values(["test_acc", "test_loss", "model"], ascending=[False, True, True], na_position="last")
    return int(best.iloc[0]["model"])


def model_label(grid: pd.DataFrame, model: int) -> str:
    """A model as "model 3 (weight_decay=1.0, seed=1)"."""
    rows = grid.set_index("model")  # one column at a time, so ints stay ints
    keys = setting_keys(grid)
    parts = [setting_label(keys, tuple(rows.at[model, k] for k in keys))] if keys else []
    if "train.seed" in grid:
        parts.append(f"seed={rows.at[model, 'train.seed']}")
    return f"model {model} ({', '.join(parts)})" if parts else f"model {model}"
