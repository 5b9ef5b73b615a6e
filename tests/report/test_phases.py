"""lab.report.phases: the PAIR explorable's phase rule and classes, the majority table, and a phase diagram per
train size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lab import references
from lab.launch.runner import run_sweep
from lab.report.phases import CLASSES, classify, classify_numbers, phase_table
from lab.sweeps import load_spec
from tests.helpers import SWEEPS, run_report


def _curve(train, test) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(len(train)) * 100, "train_loss": train, "test_loss": test})


def _metrics(train, test) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(len(train)) * 100, "train_loss": train, "test_loss": test})


def test_the_explorables_phase_rule_on_hand_made_curves():
    floor = 2.0**-23  # where the page's clipped float32 loss stops
    assert classify(_curve([0.7, 0.3, 0.1, 0.05], [0.7, 0.6, 0.6, 0.6])) == "no learning"
    assert classify(_curve([0.7, 1e-3, floor, floor], [0.7, 0.8, 0.5, 0.4])) == "memorizes"
    assert classify(_curve([0.7, floor, floor, floor], [0.7, 0.9, 0.3, 2e-6])) == "grokking"  # ratio 7.5e6
    assert classify(_curve([0.7, 1e-3, 1e-5, 1e-6], [0.7, 2e-3, 3e-5, 4e-6])) == "generalizes"  # together
    assert classify(_curve([0.7, 1e-5, 1e-6], [0.7, 0.04, 1e-6])) == "generalizes"  # ratio 4e3 < 5e4
    page = references.load("pair_parity_sweep")
    phases = [classify_numbers(a, b, c) for a, b, c in zip(page.min_train_loss, page.min_eval_loss, page.max_ratio)]
    assert set(phases) == set(CLASSES)  # the page's sweep has all four


def test_classify_gives_each_of_the_four_classes():
    flat = _metrics([2.0, 1.0, 0.5, 0.1], [2.0, 2.1, 2.2, 2.3])
    memorized = _metrics([2.0, 1e-2, 1e-6, 1e-7], [2.0, 3.0, 4.0, 5.0])
    grokked = _metrics([2.0, 1e-6, 1e-7, 1e-8], [2.0, 4.0, 1e-2, 1e-6])  # ratio 4 / 1e-6 = 4e6 at step 100
    together = _metrics([2.0, 1e-2, 1e-6, 1e-7], [2.0, 2e-2, 2e-6, 3e-7])  # ratio at most 3
    assert [classify(t) for t in (flat, memorized, grokked, together)] == list(CLASSES)
    # The thresholds are keyword arguments.
    assert classify(flat, learned_loss=0.5) == "memorizes"
    assert classify(memorized, generalized_loss=3.0) == "grokking"
    assert classify(grokked, grok_ratio=1e7) == "generalizes"
    assert classify(together, grok_ratio=2.0) == "grokking"
    # Diverged rows are ignored; a model that never had a finite train loss did not learn.
    assert classify(_metrics([np.nan, np.inf], [np.nan, np.nan])) == "no learning"
    assert classify(_metrics([2.0, 1e-7, np.nan], [3.0, 1e-7, np.nan])) == "generalizes"


def test_phase_table_takes_the_majority_and_the_median_step():
    rows, grid = [], []
    for model, (wd, kind) in enumerate([(0.0, "mem"), (0.0, "mem"), (0.0, "gen"), (1.0, "gen"), (1.0, "gen"),
                                        (1.0, "mem")]):
        test = [2.0, 1e-6, 1e-7] if kind == "gen" else [2.0, 3.0, 3.0]
        acc = [0.0, 1.0, 1.0] if kind == "gen" else [0.0, 0.0, 0.0]
        rows.append(pd.DataFrame({"model": model, "step": [0, 100, 200], "train_loss": [2.0, 1e-6, 1e-7],
                                  "test_loss": test, "test_acc": acc, "train_acc": [0.0, 1.0, 1.0]}))
        grid.append({"model": model, "group": 0, "train.weight_decay": wd, "train.lr": 1e-3, "train.seed": model % 3})
    table = phase_table(pd.concat(rows, ignore_index=True), pd.DataFrame(grid), ["train.weight_decay", "train.lr"])
    assert table.phase.tolist() == ["memorizes", "generalizes"] and table.phase_count.tolist() == [2, 2]
    assert table.median_step.tolist() == [np.inf, 100.0]  # 2 of 3 never generalized / 2 of 3 at step 100


def test_a_three_axis_parity_sweep_gets_a_phase_diagram_per_train_size_and_the_pages_classes(tmp_path, capsys):

    spec = load_spec(SWEEPS / "pair_parity.toml", [
        "task.n_test=200", "train.steps=200", "train.checkpoints=1", "sweep.seeds=1", "sweep.task.n_train=[100, 150]",
        "sweep.model.width=[8]", "sweep.train.weight_decay=[0.1, 1.0]"])
    run_dir = run_sweep(spec, tmp_path / "parity", progress=False)
    text, shown = run_report(run_dir, capsys)
    assert "phase_diagram.png" in shown and "One row per task.n_train." in text
    lines = [line for line in text.splitlines() if line.startswith("- weight decay")]
    assert [line.split(" (")[0] for line in lines] == ["- weight decay 0.1", "- weight decay 1"]
    assert "lab/page: no learning" in lines[0] and "the same in 0 of 0 settings" in text  # no setting in common
