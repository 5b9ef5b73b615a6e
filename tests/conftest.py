"""Shared test settings: strict rank promotion and tiny specs that share compiles."""

import dataclasses

import jax
import pytest

from lab.config import ModelConfig, Spec, SweepConfig, TaskConfig, TrainConfig

jax.config.update("jax_numpy_rank_promotion", "raise")


def tiny_spec(steps: int = 40, log_every: int = 10, seeds: int = 2, axes=(), **train) -> Spec:
    """A small MLP on x+y mod 11: compiles in a second and trains in milliseconds."""
    return Spec(
        task=TaskConfig(p=11, train_frac=0.5),
        model=ModelConfig(kind="mlp", d_embed=8, width=16),
        train=dataclasses.replace(TrainConfig(steps=steps, log_every=log_every, checkpoints=3, lr=1e-2), **train),
        sweep=SweepConfig(seeds=seeds, axes=tuple(axes)),
        name="tiny",
    )


@pytest.fixture
def spec_factory():
    return tiny_spec


def train_one(spec: Spec, n_train_max: int | None = None) -> dict:
    """One model of `spec` trained for its steps in one compiled chunk, its params as numpy arrays.

    n_train_max: rows of the padded training set (default: enough for the spec's train fraction).
    """
    import numpy as np

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


LRS = (1e-2, 3e-2)


@pytest.fixture(scope="session")
def lr_run(tmp_path_factory):
    """A tiny sweep over two learning rates x 2 seeds, launched with `lab.sweep` (40 steps)."""
    import lab

    out = tmp_path_factory.mktemp("lr_run") / "run"
    return lab.sweep(tiny_spec(seeds=2), out=out, set={"sweep.train.lr": list(LRS), "train.steps": 40}, progress=False)
