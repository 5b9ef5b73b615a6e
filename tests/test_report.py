"""Tests of `lab report`: the figures and index.md of a run, the PAIR phase rule, and user errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from conftest import tiny_spec

from lab.cli import main
from lab.report import CLASSES, FIGURES, classify, phase_table
from lab.launch.runner import run_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_axis_run(tmp_path_factory):
    spec = tiny_spec(seeds=2, axes=[("train.weight_decay", (0.0, 1.0)), ("train.lr", (3e-3, 1e-2))])
    return run_sweep(spec, tmp_path_factory.mktemp("two") / "r", progress=False)


@pytest.fixture(scope="module")
def one_axis_run(tmp_path_factory):
    spec = tiny_spec(seeds=2, axes=[("train.weight_decay", (0.0, 1.0))])
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, depth=2))  # two hidden layers
    return run_sweep(spec, tmp_path_factory.mktemp("one") / "r", progress=False)


def _report(run_dir, capsys, *extra: str) -> tuple[str, list[str]]:
    """Run `lab report`, check it printed the index path, and return index.md and the figures it shows."""
    assert main(["report", str(run_dir), *extra]) == 0
    index = run_dir / "report" / "index.md"
    assert capsys.readouterr().out.strip() == str(index)
    text = index.read_text()
    return text, re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def _check_figures(run_dir, shown: list[str]) -> None:
    """index.md and index.html show exactly the PNGs that exist, and each is a real, non-trivial image."""
    on_disk = sorted(p.name for p in (run_dir / "report").glob("*.png"))
    assert sorted(shown) == on_disk
    page = (run_dir / "report" / "index.html").read_text()
    assert page.startswith("<!doctype html>") and re.findall(r"<img src='([^']+)'", page) == shown
    for name in shown:
        path = run_dir / "report" / name
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert path.stat().st_size > 5_000, name
        assert matplotlib.image.imread(path).ndim == 3, name


def test_report_of_a_two_axis_run_draws_every_figure(two_axis_run, capsys):
    text, shown = _report(two_axis_run, capsys)
    # A modular x+y task over two swept axes: every figure applies but the sparse-parity, skills and reference ones.
    assert shown == [f for f in FIGURES if f not in ("parity_pruning.png", "skills.png", "reference.png")]
    _check_figures(two_axis_run, shown)
    assert text.startswith("# Report: tiny")
    assert "modular arithmetic x+y mod 11" in text and "8 models = 4 setting(s) x 2 seed(s)" in text
    assert "step_generalized" in text  # the settings table
    assert text.count("Not drawn") == 3 and "this figure is for sparse parity" in text
    assert "the spec names no published runs to compare with" in text
    assert "this figure is for multitask parity and skill composition" in text
    assert re.search(r"over 2 seeds .* universal \(\d+\.\d%", text)  # the neuron figures say what they found
    assert re.search(r"Keeping only the \d+ neurons", text)
    for name in shown:  # each figure has a caption under it
        caption = text.split(f"]({name})", 1)[1].strip().split("\n", 1)[0]
        assert len(caption) > 40 and not caption.startswith(("#", "!")), name


def test_one_axis_run_gets_no_phase_diagram_and_says_why(one_axis_run, capsys):
    (one_axis_run / "report").mkdir(exist_ok=True)
    (one_axis_run / "report" / "phase_diagram.png").write_bytes(PNG_MAGIC)  # stale: must not survive
    text, shown = _report(one_axis_run, capsys, "--model", "1")
    assert "phase_diagram.png" not in shown
    assert not (one_axis_run / "report" / "phase_diagram.png").exists()
    assert re.search(r"Not drawn \(`phase_diagram.png`\): .*1 swept axis .*needs two \(or three", text)
    assert "model 1 (weight_decay=0.0, seed=1): chosen with --model" in text
    assert re.search(r"Per hidden layer \(the others untouched\): layer 0 \d+ \(.*\), layer 1 \d+", text)
    _check_figures(one_axis_run, shown)


def _metrics(train, test) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(len(train)) * 100, "train_loss": train, "test_loss": test})


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


def test_a_folder_that_is_not_a_run_is_a_one_line_error(tmp_path, capsys, one_axis_run):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lab: error:") and err.strip().count("\n") == 0 and "holds no lab run" in err
    assert not (tmp_path / "report").exists()
    assert main(["report", str(one_axis_run), "--model", "99"]) == 2
    assert "--model 99 is not in this run" in capsys.readouterr().err


def test_sparse_parity_run_gets_its_own_figure_and_no_fourier_ones(tmp_path, capsys):
    from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig

    spec = Spec(task=TaskConfig(name="parity", n_bits=8, k=2, n_train=100, n_test=100),
                model=ModelConfig(kind="mlp", width=16), train=TrainConfig(steps=40, log_every=10, checkpoints=3),
                sweep=SweepConfig(seeds=2))
    run_dir = run_sweep(spec, tmp_path / "parity", progress=False)
    text, shown = _report(run_dir, capsys)
    _check_figures(run_dir, shown)
    assert "parity_pruning.png" in shown and "fourier_spectrum.png" not in shown
    assert "not modular arithmetic" in text
    assert "universality.png" in shown and "families of the first seed's neurons (bits read)" in text
    assert "ablation_curves.png" not in shown and "heuristics are patterns over the (a, b) grid" in text


SWEEPS = __import__("pathlib").Path(__file__).parent.parent / "sweeps"


def test_a_reference_spec_is_shown_beside_the_published_runs(tmp_path, capsys):
    from lab.sweeps import load_spec

    spec = load_spec(SWEEPS / "pair_circle.toml", ["train.steps=300", "sweep.seeds=2", "train.checkpoints=2"])
    run_dir = run_sweep(spec, tmp_path / "circle", progress=False)
    text, shown = _report(run_dir, capsys)
    _check_figures(run_dir, shown)
    assert "reference.png" in shown
    lines = [line for line in text.splitlines() if line.startswith("- ") and "explorable's range" in line]
    assert len(lines) == 3 and "notebook's 10,080 (one run)" in text  # its log, read from lab/references
    assert "final test accuracy" in lines[0] and "OUTSIDE" in lines[0]  # 300 steps: not there yet


def test_a_three_axis_parity_sweep_gets_a_phase_diagram_per_train_size_and_the_pages_classes(tmp_path, capsys):
    from lab.sweeps import load_spec

    spec = load_spec(SWEEPS / "pair_parity.toml", [
        "task.n_test=200", "train.steps=200", "train.checkpoints=1", "sweep.seeds=1", "sweep.task.n_train=[100, 150]",
        "sweep.model.width=[8]", "sweep.train.weight_decay=[0.1, 1.0]"])
    run_dir = run_sweep(spec, tmp_path / "parity", progress=False)
    text, shown = _report(run_dir, capsys)
    assert "phase_diagram.png" in shown and "One row per task.n_train." in text
    lines = [line for line in text.splitlines() if line.startswith("- weight decay")]
    assert [line.split(" (")[0] for line in lines] == ["- weight decay 0.1", "- weight decay 1"]
    assert "lab/page: no learning" in lines[0] and "the same in 0 of 0 settings" in text  # no setting in common


def test_importing_the_plotting_modules_and_running_the_cli_leave_the_backend_alone(tmp_path):
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import lab.report, lab.plots, lab.report.reference_report; "
            "from lab.cli import main; "
            f"main(['sweep', 'sweeps/quickstart.toml', '--out', {str(tmp_path / 'run')!r}, '--quiet', "
            "'--set', 'train.steps=50']); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent).stdout
    assert out.strip().splitlines()[-1] == "svg" and (tmp_path / "run" / "curves.png").is_file()


def test_a_run_is_held_against_a_papers_numbers_with_both_values_on_each_line(tmp_path, capsys):
    spec = tiny_spec(seeds=1, steps=300, log_every=20)
    spec = dataclasses.replace(spec, sweep=dataclasses.replace(spec.sweep, variants=(
        ("baseline", (("train.weight_decay", 0.0),)), ("grokfast_ema", (("train.grad_filter", "grokfast_ema"),)))))
    run_dir = run_sweep(spec, tmp_path / "gf", progress=False)
    text, shown = _report(run_dir, capsys, "--reference", "grokfast")
    assert "reference.png" in shown
    lines = [line for line in text.splitlines() if "95% test accuracy at step" in line]
    assert len(lines) == 2 and "(paper 39,890)" in lines[0] + lines[1] and "(paper 910)" in lines[0] + lines[1]
    assert main(["report", str(run_dir), "--reference", "nope"]) == 2  # a user error: one line
    assert "--reference 'nope' is not known" in capsys.readouterr().err


def test_the_quantization_model_comparison_fits_exponents_of_the_zipf_weighted_loss(tmp_path, capsys):
    from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig
    spec = Spec(task=TaskConfig(name="multitask_parity", n_tasks=4, n_bits=8, k=2, n_train=200, n_test=400,
                                fresh_samples=True, bits="01"),
                model=ModelConfig(kind="mlp", width=16),
                train=TrainConfig(batch_size=64, steps=600, log_every=100, checkpoints=2, lr=3e-3, weight_decay=0.0),
                sweep=SweepConfig(axes=(("model.width", (8, 16, 32)),)), name="michaud_tiny", reference="michaud")
    run_dir = run_sweep(spec, tmp_path / "mq", progress=False)
    text, shown = _report(run_dir, capsys)
    assert "reference.png" in shown and "alpha_N (final Zipf-weighted test loss over 3 widths)" in text
    assert "theory 0.40" in text and "theory 0.29" in text
