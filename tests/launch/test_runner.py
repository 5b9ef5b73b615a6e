"""lab.launch.runner: the checkpoint schedule, resumes bit-identical after kills (SIGKILLs of a real process among
them), runs from before new fields, optimizer state checkpointed, a diverging model named once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import lab
from lab.checkpoints import layout
from lab.checkpoints.orbax_io import CheckpointStore
from lab.launch.runner import checkpoint_steps, run_sweep
from tests.helpers import (
    ROOT,
    assert_same_run,
    interrupted_run,
    resume_spec,
    resume_steps,
    stop_after,
    tiny_spec,
)


def _rolling(run_dir: Path) -> list[int]:
    """The steps in group 0's rolling resume checkpoint folder (normally one), [] when there is none."""
    resume = run_dir / "group_000" / "resume"
    try:
        return CheckpointStore(resume, read_only=True).steps() if resume.is_dir() else []
    except Exception:  # caught mid-save or mid-delete by the writer: look again later
        return []


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return lab.open(run_sweep(resume_spec(0.0), tmp_path_factory.mktemp("full") / "run", progress=False))


@pytest.mark.parametrize("train", [{"grad_filter": "grokfast_ma", "grokfast_window": 4},
                                   {"grad_filter": "grokfast_ema", "orthogonal_grad": True,
                                    "loss": "stablemax", "loss_precision": "float64"},
                                   {"loss_precision": "exact"}], ids=["ma", "ema_ortho_stable64", "exact"])
def test_filter_state_is_checkpointed_and_the_run_records_its_loss(spec_factory, tmp_path, train):
    spec = spec_factory(seeds=1, **train)
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    assert run.spec.train.loss == spec.train.loss and run.spec.train.loss_precision == spec.train.loss_precision
    opt_state = run.state(run.steps[-1]).opt_state
    counts = [np.asarray(x) for x in jax.tree.leaves(opt_state) if np.asarray(x).dtype == np.int32]
    assert any((c == spec.train.steps).all() for c in counts)  # the filter's step count was saved
    assert {"train_collapse"} <= set(run.metrics.columns)
    assert run.metrics.train_collapse.between(0, 1).all()


def test_a_run_from_before_the_new_fields_still_resumes(spec_factory, tmp_path):
    import json

    spec = spec_factory(seeds=1, steps=40)
    out = run_sweep(spec.replace("train.steps", 20), tmp_path / "run", progress=False)
    meta = json.loads((out / "run.json").read_text())
    for key in ("loss_precision", "grad_filter", "grokfast_alpha", "grokfast_lambda", "grokfast_window",
                "orthogonal_grad"):
        del meta["spec"]["train"][key]  # as an older lab wrote it
    meta["spec"]["train"]["steps"] = 40
    (out / "run.json").write_text(json.dumps(meta))
    metrics = out / "group_000" / "metrics.csv"
    old = metrics.read_text().splitlines()
    cut = old[0].split(",").index("train_collapse")
    metrics.write_text("\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != cut) for line in old) + "\n")
    run = lab.open(run_sweep(spec, out, progress=False))  # resumes from step 20 instead of refusing
    assert run.metrics.step.max() == 40 and run.metrics.train_collapse.isna().sum() == 3  # steps 0, 10, 20: none
    assert run.metrics.train_collapse.notna().sum() == 2


@pytest.mark.slow
def test_sigkills_at_random_moments_and_inside_saves_resume_bit_identical(fault_spec, fault_run, tmp_path):
    """A real `lab sweep` killed (SIGKILL) 6 times at seeded random moments once it has started training; the
    resume checkpoint is written every 0.05 s, so most kills land near or inside a save."""
    run_dir, rng, kills, ahead = tmp_path / "run", np.random.default_rng(0), 0, 0
    command = [sys.executable, "-c", "import sys; from lab.cli import main; sys.exit(main())", "sweep",
               str(fault_spec), "--out", str(run_dir), "--quiet"]
    while kills < 6:
        before = _rolling(run_dir)
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        while process.poll() is None and _rolling(run_dir) in (before, []):  # until it trains and saves anew
            if time.monotonic() - started > 120:
                process.kill()
                pytest.fail("lab sweep did not start training within 120 s")
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        if process.poll() is not None:  # it finished before the kill: the run is complete
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        run, rolling = lab.open(run_dir), _rolling(run_dir)  # every state a kill leaves is a readable run
        ahead += bool(rolling and rolling[-1] > max(run.steps))  # the rolling checkpoint is newer than run.steps
    final = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert kills >= 3 and ahead >= 1, (kills, ahead)  # killed mid-training, and saved work past run.steps
    assert_same_run(fault_run, run_dir)


def test_a_kill_loses_at_most_the_interval_and_the_resume_is_bit_identical(full, tmp_path, monkeypatch):
    assert checkpoint_steps(resume_spec(0.0).train) == [0, 10, 20, 60]
    run_dir = tmp_path / "run"

    stop_after(monkeypatch, 4)  # a kill once the chunk ending at step 40 was handled
    with pytest.raises(KeyboardInterrupt):
        run_sweep(resume_spec(1e-9), run_dir, progress=False)  # an interval shorter than a chunk: a resume point each
    assert lab.open(run_dir).steps == [0, 10, 20]
    assert resume_steps(run_dir) == [40]  # one rolling checkpoint, the newest: the kill lost nothing done
    monkeypatch.undo()
    resumed = lab.open(run_sweep(resume_spec(1e-9), run_dir, progress=False))
    assert_same_run(full, resumed)
    assert not (layout.group_dir(run_dir, 0) / layout.RESUME_DIR).exists()  # removed once the group is done


def test_a_resume_on_other_devices_or_versions_says_its_last_bits_may_differ(tmp_path, monkeypatch, capsys):
    spec, run_dir, real = tiny_spec(seeds=1), tmp_path / "run", layout.versions
    stop_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, run_dir, progress=False)
    monkeypatch.undo()
    run_sweep(spec, run_dir, progress=False)  # the same devices and versions: no note
    assert "resuming the run" in (out := capsys.readouterr().out) and "note:" not in out
    shutil.rmtree(run_dir)
    stop_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, run_dir, progress=False)
    monkeypatch.undo()
    then = real()["devices"]
    monkeypatch.setattr(layout, "versions", lambda: {**real(), "devices": "cpu x2", "jax": "0.0.1"})
    capsys.readouterr()
    run_sweep(spec, run_dir, progress=False)
    assert (f"note: this run started with other versions or devices (jax: {real()['jax']} -> 0.0.1; devices: "
            f"{then} -> cpu x2)") in capsys.readouterr().out


def test_the_resume_interval_is_not_part_of_the_runs_identity(full, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    stop_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(resume_spec(1e-9), run_dir, progress=False)
    monkeypatch.undo()
    assert resume_steps(run_dir) == [30]
    assert_same_run(full, lab.open(run_sweep(resume_spec(600.0), run_dir, progress=False)))  # another interval: same run


def test_checkpoint_schedule_is_log_spaced():
    from lab.config import TrainConfig

    steps = checkpoint_steps(TrainConfig(steps=10_000, log_every=100, checkpoints=5))
    assert steps[0] == 0 and steps[-1] == 10_000 and all(s % 100 == 0 for s in steps)
    gaps = np.diff(steps[1:])
    assert np.all(gaps[1:] >= gaps[:-1])  # gaps grow: more checkpoints early


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resumed_run_equals_uninterrupted_run(spec_factory, tmp_path, monkeypatch, dtype):
    spec = spec_factory(steps=60, axes=[("train.weight_decay", (0.0, 1.0))], batch_size=16, dtype=dtype)
    full = lab.open(run_sweep(spec, tmp_path / "full", progress=False))
    interrupted_run(spec, tmp_path / "resumed", monkeypatch)  # at step 50: a resume has 40 steps to redo
    partial_steps = lab.open(tmp_path / "resumed").steps
    assert 0 < partial_steps[-1] < spec.train.steps  # it really stopped part-way
    resumed = lab.open(run_sweep(spec, tmp_path / "resumed", progress=False))

    assert resumed.steps == full.steps
    assert full.params(0)["W_in"].dtype == np.dtype(dtype)
    for step in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(step), resumed.state(step))
    cols = ["step", "model", "train_loss", "train_acc", "test_loss", "test_acc", "weight_norm"]
    np.testing.assert_array_equal(full.metrics[cols].to_numpy(), resumed.metrics[cols].to_numpy())


def test_a_diverging_model_is_named_once_and_the_others_train_on(spec_factory, tmp_path, capsys):
    spec = spec_factory(axes=[("train.lr", (1e-2, 1e9))], seeds=1, optimizer="sgd", momentum=0.0)
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=True))
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert text.count("model 1 (train.lr=1000000000.0, train.seed=0) diverged before step") == 1  # said once
    assert "model 0 " not in text
    m = run.metrics
    healthy = m[m.model == 0]
    assert np.isfinite(healthy.train_loss).all() and healthy.train_loss.iloc[-1] < healthy.train_loss.iloc[0]
    assert bool(m[m.model == 1].nonfinite.iloc[-1])
