"""lab.report.figures: the figures of a variant sweep and of a sparse-parity run, and a plotting import that leaves
matplotlib's backend alone."""

from __future__ import annotations

from lab.cli import main
from lab.launch.runner import run_sweep
from lab.sweeps.spec import spec_from_dict
from tests.helpers import ROOT, check_report_figures, run_report


def test_report_of_a_variant_sweep_plots_steps_to_generalize_per_variant(tmp_path, capsys):

    raw = {"task": {"p": 11, "train_frac": 0.5}, "model": {"kind": "mlp", "d_embed": 8, "width": 16},
           "train": {"steps": 40, "log_every": 10, "checkpoints": 3, "lr": 1e-2},
           "sweep": {"seeds": 2, "variants": {"adamw": {"train.weight_decay": 1.0},
                                              "grokfast": {"train.grad_filter": "grokfast_ema"}}}}
    run_dir = run_sweep(spec_from_dict(raw, name="methods"), tmp_path / "run", progress=False)
    assert main(["report", str(run_dir)]) == 0
    text = (run_dir / "report" / "index.md").read_text()
    assert "![Steps to generalize](steps_to_generalize.png)" in text and "For each variant (x)" in text
    assert "**variant** `grokfast`: train.grad_filter = grokfast_ema" in text
    assert (run_dir / "report" / "steps_to_generalize.png").stat().st_size > 5_000


def test_sparse_parity_run_gets_its_own_figure_and_no_fourier_ones(tmp_path, capsys):
    from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig

    spec = Spec(task=TaskConfig(name="parity", n_bits=8, k=2, n_train=100, n_test=100),
                model=ModelConfig(kind="mlp", width=16), train=TrainConfig(steps=40, log_every=10, checkpoints=3),
                sweep=SweepConfig(seeds=2))
    run_dir = run_sweep(spec, tmp_path / "parity", progress=False)
    text, shown = run_report(run_dir, capsys)
    check_report_figures(run_dir, shown)
    assert "parity_pruning.png" in shown and "fourier_spectrum.png" not in shown
    assert "not modular arithmetic" in text
    assert "universality.png" in shown and "families of the first seed's neurons (bits read)" in text
    assert "ablation_curves.png" not in shown and "heuristics are patterns over the (a, b) grid" in text


def test_importing_the_plotting_modules_and_running_the_cli_leave_the_backend_alone(tmp_path):
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import lab.report, lab.plots, lab.report.reference_report; "
            "from lab.cli import main; "
            f"main(['sweep', 'sweeps/quickstart.toml', '--out', {str(tmp_path / 'run')!r}, '--quiet', "
            "'--set', 'train.steps=50']); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert out.strip().splitlines()[-1] == "svg" and (tmp_path / "run" / "curves.png").is_file()
