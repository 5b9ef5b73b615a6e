"""Shared test helpers: tiny specs that share compiles, one model trained in one chunk, a kill after N chunks."""

import dataclasses
from pathlib import Path

import jax
import numpy as np

from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig

ROOT = Path(__file__).parent.parent  # the repository: sweeps/, docs/, lab/
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
    from lab.launch import runner

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
    for step in full.steps:
        jax.tree.map(np.testing.assert_array_equal, full.state(step), resumed.state(step))
    np.testing.assert_array_equal(full.metrics[COLUMNS].to_numpy(), resumed.metrics[COLUMNS].to_numpy())  # once each
