"""Shared test helpers: tiny specs that share compiles, one model trained in one chunk, kills after N chunks, runs
compared bit for bit, `lab report` run and its figures checked."""

import dataclasses
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from lab.checkpoints import layout
from lab.checkpoints.orbax_io import CheckpointStore
from lab.cli import main
from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig
from lab.launch import runner
from lab.launch.runner import run_sweep
from lab.sweeps import expand, hparams_of
from lab.train import step

ROOT = Path(__file__).parent.parent  # the repository: sweeps/, docs/, lab/
SWEEPS = ROOT / "sweeps"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LRS = (1e-2, 3e-2)
COLUMNS = ["step", "model", "train_loss", "train_acc", "test_loss", "test_acc", "weight_norm"]
# the fault suite's sweep: 4 models, 6,000 steps in chunks of 10, a rolling resume checkpoint every 5%
FAULT_SPEC = """name = "faults"
[task]
p = 11
train_frac = 0.5
[model]
kind = "mlp"
d_embed = 8
width = 16
[train]
steps = 6000
log_every = 10
checkpoints = 6
lr = 1e-2
batch_size = 16
resume_every = 0.05
[sweep]
seeds = 2
"train.weight_decay" = [0.0, 1.0]
"""


def tiny_spec(steps: int = 40, log_every: int = 10, seeds: int = 2, axes=(), **train) -> Spec:
    """A small MLP on x+y mod 11: compiles in a second and trains in milliseconds."""
    return Spec(
        task=TaskConfig(p=11, train_frac=0.5),
        model=ModelConfig(kind="mlp", d_embed=8, width=16),
        train=dataclasses.replace(TrainConfig(steps=steps, log_every=log_every, checkpoints=3, lr=1e-2), **train),
        sweep=SweepConfig(seeds=seeds, axes=tuple(axes)),
        name="tiny",
    )


def train_one(spec: Spec, n_train_max: int | None = None) -> dict:
    """One model of `spec` trained for its steps in one compiled chunk, its params as numpy arrays.

    n_train_max: rows of the padded training set (default: enough for the spec's train fraction).
    """
    from lab import tasks, train

    n_rows = tasks.n_train_max(spec.task, spec.task.train_frac) if n_train_max is None else n_train_max
    programs = train.build_programs(spec, n_rows)
    hp = jax.tree.map(jax.numpy.asarray, train.hparams_of(spec, [{}]))
    state, _ = programs.chunk(programs.init(hp), programs.data(hp), hp)
    return jax.tree.map(lambda w: np.asarray(w[0]), state.params)


def stop_after(monkeypatch, chunks: int, action=None) -> None:
    """Make `lab sweep`'s chunk loop call action() (default: raise KeyboardInterrupt, a kill) once `chunks` chunks
    of steps have been handled; monkeypatch.undo() restores it."""
    real = runner.run_chunks

    def stopping(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == chunks:
                if action is None:
                    raise KeyboardInterrupt
                action()
            yield item

    monkeypatch.setattr(runner, "run_chunks", stopping)


def assert_same_run(full, resumed) -> None:
    """Two runs (`lab.open` handles, or a run directory as the second) hold the same steps, states and metrics."""
    import lab

    resumed = lab.open(resumed) if isinstance(resumed, (str, Path)) else resumed
    assert resumed.steps == full.steps  # the resume checkpoints are not analysis steps
    for at in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(at), resumed.state(at))
    np.testing.assert_array_equal(full.metrics[COLUMNS].to_numpy(), resumed.metrics[COLUMNS].to_numpy())  # once each


def run_report(run_dir, capsys, *extra: str) -> tuple[str, list[str]]:
    """Run `lab report`, check it printed the index path (and a progress bar over the figures unless --quiet), and
    return index.md and the figures it shows."""
    assert main(["report", str(run_dir), *extra]) == 0
    index = run_dir / "report" / "index.md"
    printed = capsys.readouterr()
    assert printed.out.strip() == str(index)
    assert bool(re.search(r"report: +\d+%.*figure", printed.err)) != ("--quiet" in extra), printed.err[-300:]
    text = index.read_text()
    return text, re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def check_report_figures(run_dir, shown: list[str]) -> None:
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


def first_models(spec, n: int):
    """Initial states, data and metrics of the first n models of a spec's first group."""
    group = expand(spec)[0]
    out = []
    with step.precision_scope(spec):
        for row in group.numbers[:n]:
            hp = jax.tree.map(lambda v: v[0], hparams_of(spec, [row]))
            state = jax.jit(lambda h: step.init_state(spec, h))(hp)
            data = step.make_data(spec, hp, group.n_train_max())
            out.append((state, data, {k: float(v) for k, v in step.evaluate(spec, state.params, data).items()}))
    return out


def toml_of(d: dict) -> str:
    """A spec dict (Spec.to_dict) written as TOML: top-level keys, then one table per section."""
    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    lines = [f"{k} = {value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for section, table in d.items():
        if isinstance(table, dict):
            lines += [f"[{section}]", *(f"{k} = {value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def parity_spec(name: str, **task) -> Spec:
    """A small (multitask) parity spec in minibatches of 32: 12 bits, 4 tasks, 64 rows each side."""
    return Spec(task=TaskConfig(name=name, n_bits=12, k=3, n_tasks=4, n_train=64, n_test=64, **task),
                model=ModelConfig(kind="mlp", width=16),
                train=TrainConfig(batch_size=32, steps=20, log_every=10), sweep=SweepConfig())


def lines_by_label(ax) -> dict:
    """An axes' lines by label."""
    return {line.get_label(): line for line in ax.get_lines()}


def interrupted_run(spec, run_dir: Path, monkeypatch, after_chunks: int = 4) -> None:
    """Run a sweep that is interrupted (KeyboardInterrupt) after after_chunks chunks of steps."""
    real = runner.run_chunks
    stop_after(monkeypatch, after_chunks)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, run_dir, progress=False)
    monkeypatch.setattr(runner, "run_chunks", real)


def resume_spec(resume_every: float) -> Spec:
    """The tiny sweep (4 models, 60 steps) with a rolling resume checkpoint every resume_every seconds."""
    # 60 steps in chunks of 10, analysis checkpoints at 0, 10, 20 and 60: a kill at 45 would lose 25 steps
    return tiny_spec(steps=60, seeds=2, batch_size=16, resume_every=resume_every,
                     axes=[("train.weight_decay", (0.0, 1.0))])


def resume_steps(run_dir) -> list[int]:
    """The steps in group 0's rolling resume checkpoint folder ([] when there is none)."""
    path = layout.group_dir(run_dir, 0) / layout.RESUME_DIR
    return CheckpointStore(path, read_only=True).steps() if path.is_dir() else []


def key_of(seed: int) -> jax.Array:
    """A raw PRNG key, as the task tests were written against."""
    return jax.random.PRNGKey(seed)


def check_data_dtypes(d) -> None:
    """Labels and task ids are int32, weights float32, and the four train (test) arrays share N."""
    for y, w, t, x in ((d.y_train, d.w_train, d.t_train, d.x_train), (d.y_test, d.w_test, d.t_test, d.x_test)):
        assert y.dtype == jnp.int32 and w.dtype == jnp.float32 and t.dtype == jnp.int32
        assert y.shape[-1] == w.shape[-1] == t.shape[-1] == x.shape[-2]


def skills_spec(n_tasks: int, steps: int) -> Spec:
    """Multitask sparse parity over n_tasks 2-bit skills, small enough to learn in a test."""
    return Spec(task=TaskConfig(name="multitask_parity", n_bits=10, k=2, n_tasks=n_tasks, n_train=2000, n_test=301),
                model=ModelConfig(kind="mlp", width=64),
                train=TrainConfig(lr=3e-3, weight_decay=0.1, steps=steps, log_every=steps // 2, checkpoints=1),
                name="skills")


def multiplied(jaxpr, operand: int) -> set:
    """The shapes of the given operand (0: left, 1: right) of every product in a jaxpr and its sub-jaxprs."""
    out = {tuple(e.invars[operand].aval.shape) for e in jaxpr.eqns if e.primitive.name == "dot_general"}
    for e in jaxpr.eqns:
        for v in e.params.values():
            sub = getattr(v, "jaxpr", v)
            out |= multiplied(sub, operand) if hasattr(sub, "eqns") else set()
    return out
