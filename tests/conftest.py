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
