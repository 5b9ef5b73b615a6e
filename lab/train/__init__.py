"""Training: one pure step for one model, vmapped over the model axis and scanned over steps.

    from lab import train
    programs = train.build_programs(spec, n_train_max)
    state_M = programs.init(hp_M); data_M = programs.data(hp_M)
    for step, metrics, state in train.run_chunks(programs, state_M, data_M, hp_M, 0, steps, every): ...
"""

from lab.train.loop import Programs, build_programs, chunk_of_steps, run_chunks
from lab.train import memory, sharding
from lab.train.losses import accuracy, per_example_loss, weighted_mean
from lab.sweeps.hparams import HParams, hparams_of
from lab.train.keys import data_key, epoch_key, model_key, step_key
from lab.train.optim import make_optimizer
from lab.train.step import (
    METRICS,
    TrainState,
    evaluate,
    init_state,
    loss_and_grads,
    make_data,
    precision_scope,
    train_step,
    weight_norm,
)

__all__ = [
    "memory", "sharding",
    "METRICS", "HParams", "Programs", "TrainState", "accuracy", "build_programs", "chunk_of_steps",
    "data_key", "epoch_key", "evaluate", "hparams_of", "init_state", "loss_and_grads", "make_data", "make_optimizer", "model_key", "per_example_loss",
    "precision_scope",
    "run_chunks", "step_key", "train_step", "weight_norm", "weighted_mean",
]
