"""Tests of lab.sweeps and lab.checkpoints: specs, the grid, run directories, resume, lab.open."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import jax
import numpy as np
import pytest

import lab
from lab.config import SpecError
from lab.errors import LabError
from lab.sweeps import expand, load_spec, spec_from_dict
from lab.launch import runner
from lab.launch.runner import checkpoint_steps, run_sweep
from lab.analysis.summary import setting_columns

from conftest import stop_after

SWEEPS = sorted((Path(__file__).parent.parent / "sweeps").glob("*.toml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_shipped_specs_validate_and_say_what_they_are(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    header = path.read_text().splitlines()[0]
    assert header.startswith("# ") and "CPU" in path.read_text().split("[task]")[0]
    assert sum(g.size for g in expand(spec)) >= 1


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"train": {"lrr": 1.0}}, "unknown key 'train.lrr'; allowed keys in [train]: optimizer, lr,"),
        ({"trainer": {}}, "unknown section 'trainer'; allowed: task, model, train, sweep"),
        ({"train": {"steps": "many"}}, "train.steps must be int, got str 'many'"),
        ({"train": {"steps": 1.5}}, "train.steps must be int"),
        ({"model": {"bias": 1}}, "model.bias must be bool"),
        ({"model": {"activation": "swish"}}, "model.activation = 'swish' is not allowed; choose one of relu"),
        ({"train": {"optimizer": "lion"}}, "train.optimizer = 'lion' is not allowed"),
        ({"sweep": {"train.lr": 0.1}}, "sweep.train.lr must be a non-empty list"),
        ({"sweep": {"train.momentom": [0.1]}}, "unknown key 'train.momentom'"),
        ({"sweep": {"task.train_frac": [0.5, 1.5]}}, "task.train_frac must be in (0, 1] (got 1.5)"),
        ({"train": {"steps": 150, "log_every": 100}}, "train.steps = 150 must be a multiple of train.log_every"),
        ({"task": {"name": "parity"}, "model": {"kind": "transformer"}}, "needs model.kind = 'mlp'"),
        ({"model": {"width": 0, "kind": "mlp"}}, "model.width must be at least 1"),
        ({"train": {"decay": "l1"}}, "train.decay = 'l1' adds wd * sign(w) to the gradient; use train.optimizer"),
        ({"train": {"dtype": "float16"}}, "train.dtype = 'float16' is not allowed; choose one of float32, float64"),
        ({"task": {"name": "parity"}, "model": {"kind": "mlp", "single_logit": True}, "train": {"loss": "mse"}},
         "model.single_logit is trained with the sigmoid cross entropy"),
        ({"model": {"kind": "mlp", "single_logit": True}}, "model.single_logit needs a two-class task"),
        ({"model": {"kind": "mlp", "bias_input": True}}, "model.bias_input is for vector inputs"),
        ({"reference": "nanda_2023"}, "reference = 'nanda_2023' is not known; choose one of pair_modadd"),
        ({"sweep": {"seed_data": True, "task.data_seed": [1, 2]}}, "sweep.seed_data sets task.data_seed"),
    ],
)
def test_bad_specs_are_refused_with_a_message_naming_the_key(raw, message):
    with pytest.raises(SpecError) as err:
        spec_from_dict(raw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_and_sweep_axes(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[task]\np = 11\n[sweep]\nseeds = 2\n"model.width" = [8, 16]\n')
    spec = load_spec(path, ["train.lr=0.01", "sweep.train.weight_decay=[0.0, 1.0]", "model.kind=mlp"])
    assert spec.train.lr == 0.01 and spec.model.kind == "mlp"
    groups = expand(spec)
    assert [g.size for g in groups] == [4, 4]  # width splits the sweep; weight decay x seeds share a program
    assert [g.spec.model.width for g in groups] == [8, 16]
    hp = groups[0].hparams()
    assert np.asarray(hp.weight_decay).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert np.asarray(hp.seed).tolist() == [0, 1, 0, 1]
    with pytest.raises(SpecError, match="must look like key=value"):
        load_spec(path, ["train.lr"])
    with pytest.raises(SpecError, match="no spec file"):
        load_spec(tmp_path / "missing.toml")


def test_seed_data_gives_each_seed_its_own_split_and_stays_a_seed(spec_factory):
    spec = dataclasses.replace(spec_factory(seeds=3), sweep=dataclasses.replace(spec_factory(seeds=3).sweep,
                                                                                  seed_data=True))
    (group,) = expand(spec)
    assert [n["task.data_seed"] for n in group.numbers] == [0, 1, 2]
    assert spec_from_dict(spec.to_dict()) == spec
    grid = runner.grid_table([group])
    assert list(grid["task.data_seed"]) == [0, 1, 2] and setting_columns(grid) == []  # seeds, not settings


def test_checkpoint_schedule_is_log_spaced():
    from lab.config import TrainConfig

    steps = checkpoint_steps(TrainConfig(steps=10_000, log_every=100, checkpoints=5))
    assert steps[0] == 0 and steps[-1] == 10_000 and all(s % 100 == 0 for s in steps)
    gaps = np.diff(steps[1:])
    assert np.all(gaps[1:] >= gaps[:-1])  # gaps grow: more checkpoints early


def _tree_hash(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


def test_run_directory_api_and_refusals(spec_factory, tmp_path):
    spec = spec_factory(axes=[("train.weight_decay", (0.0, 1.0))])
    out = run_sweep(spec, tmp_path / "run", progress=False)
    run = lab.open(out)
    assert len(run.grid) == 4 and set(run.grid.columns) == {"model", "group", "train.weight_decay", "train.seed"}
    assert run.steps == checkpoint_steps(spec.train)
    m = run.metrics
    assert len(m) == 4 * (spec.train.steps // spec.train.log_every + 1)
    assert {"step", "model", "train_loss", "test_acc", "weight_norm", "train.weight_decay"} <= set(m.columns)
    params = run.params(3, step=run.steps[-1])
    assert params["W_in"].shape == (16, 16) and isinstance(params["W_in"], np.ndarray)
    state = run.state(run.steps[-1])
    assert np.asarray(state.step).tolist() == [spec.train.steps] * 4
    np.testing.assert_array_equal(state.params["W_in"][3], params["W_in"])
    assert (out / "run.json").is_file() and "jax" in run.meta["versions"]

    before = _tree_hash(out)
    other = dataclasses.replace(spec, train=dataclasses.replace(spec.train, lr=0.5))
    with pytest.raises(LabError, match=r"holds a run of another spec \(train.lr: 0.01 there, 0.5 here\)"):
        run_sweep(other, out, progress=False)
    assert _tree_hash(out) == before  # nothing changed

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(LabError, match="holds no lab run"):
        run_sweep(spec, stranger, progress=False)
    assert [p.name for p in stranger.iterdir()] == ["notes.txt"]


def _interrupted_run(spec, run_dir: Path, monkeypatch, after_chunks: int = 4) -> None:
    """Run a sweep that is interrupted (KeyboardInterrupt) after after_chunks chunks of steps."""
    real = runner.run_chunks
    stop_after(monkeypatch, after_chunks)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, run_dir, progress=False)
    monkeypatch.setattr(runner, "run_chunks", real)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resumed_run_equals_uninterrupted_run(spec_factory, tmp_path, monkeypatch, dtype):
    spec = spec_factory(steps=60, axes=[("train.weight_decay", (0.0, 1.0))], batch_size=16, dtype=dtype)
    full = lab.open(run_sweep(spec, tmp_path / "full", progress=False))
    _interrupted_run(spec, tmp_path / "resumed", monkeypatch)  # at step 50: a resume has 40 steps to redo
    partial_steps = lab.open(tmp_path / "resumed").steps
    assert 0 < partial_steps[-1] < spec.train.steps  # it really stopped part-way
    resumed = lab.open(run_sweep(spec, tmp_path / "resumed", progress=False))

    assert resumed.steps == full.steps
    assert full.params(0)["W_in"].dtype == np.dtype(dtype)
    for step in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(step), resumed.state(step))
    cols = ["step", "model", "train_loss", "train_acc", "test_loss", "test_acc", "weight_norm"]
    np.testing.assert_array_equal(full.metrics[cols].to_numpy(), resumed.metrics[cols].to_numpy())


def test_corrupt_checkpoint_gets_a_clear_error(spec_factory, tmp_path):
    out = run_sweep(spec_factory(seeds=1), tmp_path / "run", progress=False)
    run = lab.open(out)
    last = run.steps[-1]
    for f in (out / "group_000" / "checkpoints" / str(last)).rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"garbage")
    with pytest.raises(LabError, match=f"checkpoint of step {last} .* could not be read"):
        lab.open(out).params(0, last)


def _corrupt(step_dir: Path) -> None:
    for f in step_dir.rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"garbage")


def test_an_unreadable_newest_checkpoint_is_moved_aside_and_the_run_ends_bit_identical(spec_factory, tmp_path,
                                                                                     monkeypatch, capsys):
    spec = spec_factory(steps=60, seeds=2)
    full = lab.open(run_sweep(spec, tmp_path / "full", progress=False))
    _interrupted_run(spec, tmp_path / "run", monkeypatch)
    saved = lab.open(tmp_path / "run").steps
    _corrupt(tmp_path / "run" / "group_000" / "checkpoints" / str(saved[-1]))
    capsys.readouterr()
    resumed = lab.open(run_sweep(spec, tmp_path / "run", progress=True))
    said = "".join(capsys.readouterr())
    assert f"the checkpoint of step {saved[-1]} could not be read: moved it to" in said
    assert resumed.unreadable_steps == {0: [f"unreadable_step_{saved[-1]}"]}  # kept, not deleted
    assert resumed.steps == full.steps
    for step in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(step), resumed.state(step))
    cols = ["step", "model", "train_loss", "test_loss", "weight_norm"]
    np.testing.assert_array_equal(full.metrics[cols].to_numpy(), resumed.metrics[cols].to_numpy())  # each step once


def test_a_sweep_too_large_for_memory_is_split_into_batches(spec_factory, tmp_path, monkeypatch, capsys):
    from lab.train import memory

    spec = spec_factory(axes=[("train.weight_decay", (0.0, 1.0))])
    (group,) = expand(spec)
    per_model = memory.bytes_per_model(group.spec, group.n_train_max(), group.shares_data)
    monkeypatch.setattr(memory, "memory_budget", lambda: int(2.5 * per_model))
    run = lab.open(run_sweep(spec, tmp_path / "split", progress=True))
    assert "does not fit" in capsys.readouterr().out
    assert [g.models for g in run.groups] == [(0, 1), (2, 3)]
    monkeypatch.undo()
    whole = lab.open(run_sweep(spec, tmp_path / "whole", progress=False))
    assert [g.models for g in whole.groups] == [(0, 1, 2, 3)]
    cols = ["train_loss", "test_acc", "weight_norm"]
    np.testing.assert_allclose(run.metrics[cols].to_numpy(), whole.metrics[cols].to_numpy(), rtol=1e-4, atol=1e-6)
    assert run.params(3)["W_in"].shape == whole.params(3)["W_in"].shape


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
