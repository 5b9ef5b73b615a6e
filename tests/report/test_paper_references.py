"""lab.report.paper_references: a run held against a paper's numbers, both values on each line."""

from __future__ import annotations

import dataclasses

from lab.cli import main
from lab.launch.runner import run_sweep
from tests.helpers import run_report, tiny_spec


def test_a_run_is_held_against_a_papers_numbers_with_both_values_on_each_line(tmp_path, capsys):
    spec = tiny_spec(seeds=1, steps=300, log_every=20)
    spec = dataclasses.replace(spec, sweep=dataclasses.replace(spec.sweep, variants=(
        ("baseline", (("train.weight_decay", 0.0),)), ("grokfast_ema", (("train.grad_filter", "grokfast_ema"),)))))
    run_dir = run_sweep(spec, tmp_path / "gf", progress=False)
    text, shown = run_report(run_dir, capsys, "--reference", "grokfast")
    assert "reference.png" in shown
    lines = [line for line in text.splitlines() if "95% test accuracy at step" in line]
    assert len(lines) == 2  # both values on each line, and the script's own runs from their logged curves
    assert "(paper 910; main.py on a CPU 910)" in lines[0] + lines[1]
    assert "(paper 39,890; main.py on a CPU not within 45,000)" in lines[0] + lines[1]
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
    text, shown = run_report(run_dir, capsys)
    assert "reference.png" in shown and "alpha_N (final Zipf-weighted test loss over 3 widths)" in text
    assert "theory 0.40" in text and "theory 0.29" in text


def test_legend_names_carry_the_seed_where_a_variant_has_several():
    import types

    import pandas as pd

    from lab.report.paper_references import _names
    seeded = pd.DataFrame({"model": [0, 1, 2, 3], "variant": ["repo", "repo", "demo", "demo"],
                           "train.seed": [0, 1, 0, 1]})
    assert _names(types.SimpleNamespace(grid=seeded)) == {0: "repo, seed 0", 1: "repo, seed 1", 2: "demo, seed 0",
                                                          3: "demo, seed 1"}
    single = seeded[seeded["train.seed"] == 0].reset_index(drop=True)
    assert _names(types.SimpleNamespace(grid=single)) == {0: "repo", 2: "demo"}
    plain = pd.DataFrame({"model": [0, 1], "train.seed": [0, 1]})
    assert _names(types.SimpleNamespace(grid=plain)) == {0: "model 0", 1: "model 1"}


def test_the_stablemax_comparison_pairs_the_run_with_the_figure_at_every_step_both_logged():
    import types

    import pandas as pd

    from lab.report.paper_references import stablemax
    steps = [0, 5_000, 10_000, 15_000, 17_500]
    report = types.SimpleNamespace(
        grid=pd.DataFrame({"model": [0], "variant": ["stablemax"]}), spec=types.SimpleNamespace(name="sm"),
        metrics=pd.DataFrame({"model": 0, "step": steps, "test_acc": [0.0, 0.0, 0.01, 0.3, 0.96]}))
    _, [line] = stablemax(report)
    assert "lab/paper at 15k 0.30/0.02;" in line  # the figure's 0.02 at 15k; no other step of its is logged here
    assert "95% at step 17,500" in line
    report.metrics = report.metrics[report.metrics.step < 15_000]
    assert "no logged step in common with the figure's" in stablemax(report)[1][0]
