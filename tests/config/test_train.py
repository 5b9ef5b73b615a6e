"""lab.config.train: bad optimizer, loss and schedule settings refused naming the field; dict/TOML round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lab.config import SpecError, TrainConfig
from lab.sweeps import load_spec, spec_from_dict
from tests.helpers import toml_of

# specs that together set every train field away from its default
ROUND_TRIPS = {
    "adam_l1": {"optimizer": "adam", "decay": "l1", "lr": 3e-3, "weight_decay": 0.5, "b1": 0.8, "b2": 0.99,
                "eps": 1e-6, "warmup_steps": 10, "warmup_from_zero": True, "loss": "cross_entropy_class_mean",
                "prob_clip": 1e-7, "steps": 2000, "log_every": 50, "checkpoints": 5, "seed": 3,
                "keep_subnormal_moments": True},
    "sgd_float64": {"optimizer": "sgd", "momentum": 0.5, "dtype": "float64", "float32_params": "W_E",
                    "loss": "stablemax", "loss_precision": "exact", "batch_size": 64, "sampling": "epochs",
                    "model_batch": 8, "row_block": 32, "matmul_precision": "bf16", "resume_every": 0.0},
    "grokfast": {"grad_filter": "grokfast_ma", "grokfast_alpha": 0.9, "grokfast_lambda": 5.0, "grokfast_window": 50,
                 "orthogonal_grad": True, "retire_after": 3, "retire_rule": "decided", "retire_loss": 1e-2},
    "replay": {"batch_size": 512, "sampling": "epochs", "batches_from": "grokfast_batches"},
}
SPLIT_FOR = {"replay": "grokfast_start"}  # train.batches_from orders the rows of a task.split_from


def _raw(case: str) -> dict:
    """The case's spec dict: its train section, and a fixed split where it needs one."""
    return {"train": ROUND_TRIPS[case]} | ({"task": {"split_from": SPLIT_FOR[case]}} if case in SPLIT_FOR else {})


def test_the_defaults_validate_and_grokfast_amplifies_by_the_ema_default():
    cfg = TrainConfig()
    cfg.validate()
    assert cfg.grad_filter == "none"  # Grokfast is off unless asked for
    assert cfg.grokfast_lambda == 2.0  # "EMA default 2" (Lee et al. 2024's EMA filter)
    assert cfg.prob_clip == 0.0 and cfg.batch_size == 0  # no clipping; full batch


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(sampling="epochs"), "train.sampling = 'epochs' draws minibatches; set train.batch_size"),
        (dict(batches_from="grokfast_batches", batch_size=512), "train.batches_from gives each epoch's order of the "
                                                                "training rows; set train.sampling = 'epochs'"),
        (dict(batches_from=3), "train.batches_from must be a reference name or a path (got 3)"),
        (dict(optimizer="sgd", keep_subnormal_moments=True),
         "train.keep_subnormal_moments scales Adam's moments; train.optimizer = 'sgd' has none"),
        (dict(warmup_from_zero=True), "train.warmup_from_zero needs train.warmup_steps >= 1"),
        (dict(decay="l1"), "train.decay = 'l1' adds wd * sign(w) to the gradient; use train.optimizer = 'adam'"),
        (dict(float32_params="W_E"), "train.float32_params keeps some parameters float32 inside a float64 step; "
                                     "set train.dtype = 'float64'"),
        (dict(prob_clip=0.5), "train.prob_clip must be in [0, 0.5) (got 0.5)"),
        (dict(prob_clip=-1e-7), "train.prob_clip must be in [0, 0.5) (got -1e-07)"),
        (dict(prob_clip=1e-7, loss="mse"), "train.prob_clip applies to the cross-entropy losses, not to train.loss = "
                                           "'mse'"),
        (dict(prob_clip=1e-7, loss="stablemax"), "not to train.loss = 'stablemax'"),
        (dict(prob_clip=1e-7, loss_precision="exact"), "train.prob_clip with train.loss_precision = 'exact' would "
                                                       "undo it; choose one"),
        (dict(grokfast_alpha=1.0), "train.grokfast_alpha must be in [0, 1) (got 1.0)"),
        (dict(grokfast_alpha=-0.1), "train.grokfast_alpha must be in [0, 1) (got -0.1)"),
        (dict(grokfast_lambda=-1.0), "train.grokfast_lambda must be >= 0 (got -1.0)"),
        (dict(grokfast_window=0), "train.grokfast_window must be at least 1 (got 0)"),
        (dict(lr=0.0), "train.lr must be positive (got 0.0)"),
        (dict(b1=1.0), "train.b1 must be in [0, 1) (got 1.0)"),
        (dict(b2=-0.5), "train.b2 must be in [0, 1) (got -0.5)"),
        (dict(eps=0.0), "train.eps must be positive (got 0.0)"),
        (dict(momentum=-3.0), "train.momentum must be >= 0 (got -3.0)"),
        (dict(lr=float("nan")), "train.lr must be positive (got nan)"),
        (dict(weight_decay=-1e-4), "train.weight_decay must be >= 0 (got -0.0001)"),
        (dict(steps=0, log_every=1), "train.steps must be at least 1 (got 0)"),
        (dict(seed=2**31), "train.seed must be in [0, 2**31), an int32 (got 2147483648)"),
        (dict(seed=-1), "train.seed must be in [0, 2**31), an int32 (got -1)"),
        (dict(batch_size=-1), "train.batch_size must be >= 0, 0 for full batch (got -1)"),
        (dict(model_batch=-1), "train.model_batch must be >= 0, 0 for automatic (got -1)"),
        (dict(row_block=-1), "train.row_block must be >= 0, 0 for automatic (got -1)"),
        (dict(warmup_steps=-1), "train.warmup_steps must be >= 0 (got -1)"),
        (dict(log_every=0), "train.log_every must be at least 1 (got 0)"),
        (dict(steps=150, log_every=100), "train.steps = 150 must be a multiple of train.log_every = 100"),
        (dict(checkpoints=-1), "train.checkpoints must be >= 0 (got -1)"),
        (dict(retire_after=-1), "train.retire_after must be >= 0 logs, 0 for never (got -1)"),
        (dict(retire_loss=0.0), "train.retire_loss must be positive (got 0.0)"),
        (dict(resume_every=-1.0), "train.resume_every must be >= 0 seconds, 0 for none (got -1.0)"),
    ],
)
def test_validate_refuses_with_a_one_line_message_naming_the_field(kwargs, message):
    with pytest.raises(SpecError) as err:
        TrainConfig(**kwargs).validate()
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sampling="epochs", batch_size=1),
        dict(warmup_from_zero=True, warmup_steps=1),
        dict(decay="l1", optimizer="adam"),
        dict(decay="l1", optimizer="sgd"),
        dict(float32_params="W_E", dtype="float64"),
        dict(prob_clip=0.49),
        dict(prob_clip=1e-7, loss="cross_entropy_class_mean", loss_precision="float64"),
        dict(grokfast_alpha=0.0, grokfast_lambda=0.0, grokfast_window=1),
        dict(weight_decay=0.0, checkpoints=0, warmup_steps=0, retire_after=0, resume_every=0.0),
        dict(steps=1, log_every=1),
        dict(b1=0.0, b2=0.0, eps=1e-25, momentum=0.0),
        dict(steps=300, log_every=300),
    ],
)
def test_the_edges_of_each_rule_are_accepted(kwargs):
    TrainConfig(**kwargs).validate()


def test_the_round_trip_cases_set_every_train_field_away_from_its_default():
    default = TrainConfig()
    changed = {f.name for case in ROUND_TRIPS for f in dataclasses.fields(TrainConfig)
               if getattr(spec_from_dict(_raw(case)).train, f.name) != getattr(default, f.name)}
    assert changed == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_a_spec_round_trips_through_to_dict_and_json(case):
    spec = spec_from_dict(_raw(case))
    assert spec_from_dict(spec.to_dict()) == spec
    again = spec_from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    for f in dataclasses.fields(TrainConfig):
        assert type(getattr(again.train, f.name)) is type(getattr(spec.train, f.name)), f.name


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_a_spec_round_trips_through_a_toml_file(case, tmp_path):
    spec = spec_from_dict(_raw(case), name=case)
    path = tmp_path / "spec.toml"
    path.write_text(toml_of(spec.to_dict()))
    assert load_spec(path) == spec

