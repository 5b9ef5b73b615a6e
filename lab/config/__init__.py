"""Static configuration: frozen dataclasses for the task, model, training and sweep sections.

A spec is validated into these; every bad value raises `SpecError` with a one-line message
that names the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lab.config.choices import HPARAM_FIELDS, MODULAR_OPS, PER_MODEL_FIELDS, REFERENCES, SpecError, _check
from lab.config.model import ModelConfig
from lab.config.task import TaskConfig
from lab.config.train import TrainConfig

__all__ = ["HPARAM_FIELDS", "MODULAR_OPS", "PER_MODEL_FIELDS", "REFERENCES", "ModelConfig", "Spec", "SpecError", "SweepConfig",
           "TaskConfig", "TrainConfig"]


@dataclass(frozen=True)
class SweepConfig:
    """The grid: a number of seeds and lists of values for dotted fields ("train.lr": [...])."""

    seeds: int = 1
    seed_data: bool = False  # each seed also draws its own dataset (task.data_seed = train.seed), as PAIR's runs
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    # named bundles of settings, one more axis of the grid ("variant"): (name, ((dotted, value), ...))
    variants: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def validate(self) -> None:
        _check(self.seeds >= 1, f"sweep.seeds must be at least 1 (got {self.seeds})")
        swept = {k for k, _ in self.axes}
        _check(not (self.seed_data and "task.data_seed" in swept),
               "sweep.seed_data sets task.data_seed from each seed; do not also sweep task.data_seed")
        for name, fields in self.variants:
            for dotted, _ in fields:
                _check(dotted not in swept, f"sweep.variants.{name} sets {dotted!r}, which is also a sweep axis; "
                                            f"set it in one place")

    def variant(self, name: str) -> dict[str, Any]:
        """The dotted fields a named variant sets."""
        return dict(dict(self.variants)[name])


@dataclass(frozen=True)
class Spec:
    """A whole sweep spec: what to train, how, and over which grid."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    name: str = "sweep"
    reference: str = ""  # published data that `lab report` compares the run with (see lab.references)

    def validate(self) -> None:
        self.task.validate()
        self.model.validate()
        self.train.validate()
        self.sweep.validate()
        if not self.task.is_table:
            _check(self.model.kind == "mlp", f"task.name = {self.task.name!r} needs model.kind = 'mlp'")
        _check(self.task.sequence == "a_b_eq" or self.model.kind == "transformer",
               f"task.sequence = {self.task.sequence!r} is a transformer's input; an MLP reads the operands")
        _check(self.task.sequence != "eos_a_op_b_eq_c" or self.model.readout == "vocab",
               "task.sequence = 'eos_a_op_b_eq_c' asks for <eos> after the answer; set model.readout = 'vocab'")
        _check(not (self.model.single_logit and self.task.n_classes != 2),
               f"model.single_logit needs a two-class task (task.name = {self.task.name!r} has "
               f"{self.task.n_classes} classes)")
        _check(not (self.model.single_logit and self.train.loss not in ("cross_entropy",)),
               f"model.single_logit is trained with the sigmoid cross entropy: set train.loss = 'cross_entropy' "
               f"(got {self.train.loss!r})")
        _check(not (self.model.bias_input and self.task.is_table),
               "model.bias_input is for vector inputs (parity tasks); table tasks have no input column to add")
        _check(not (self.task.fresh_samples and not self.train.batch_size),
               "task.fresh_samples draws train.batch_size new examples every step; set train.batch_size")
        _check(not (self.task.fresh_samples and self.task.is_table),
               "task.fresh_samples is for the parity tasks; a table task has finitely many examples")
        _check(not (self.task.bits == "01" and self.task.name not in ("parity", "multitask_parity")),
               "task.bits = '01' is implemented for task.name = 'parity' and 'multitask_parity'")
        _check(not (self.train.batches_from and not self.task.split_from),
               "train.batches_from orders the rows of a fixed training set; set task.split_from (the file's "
               "epoch_order counts positions in its training rows)")
        _check(not self.reference or self.reference in REFERENCES,
               f"reference = {self.reference!r} is not known; choose one of {', '.join(REFERENCES)}")
        _check(not (self.model.tie_embed and self.task.name != "modular"),
               f"model.tie_embed needs task.name = 'modular' (the unembedding must have one row per operand value; "
               f"{self.task.name!r} has {self.task.n_classes} classes)")

    def replace(self, dotted: str, value: Any) -> "Spec":
        """A copy with one dotted field ("train.lr") set to value."""
        section, name = dotted.split(".", 1)
        sub = dataclasses.replace(getattr(self, section), **{name: value})
        return dataclasses.replace(self, **{section: sub})

    def get(self, dotted: str) -> Any:
        """The value of one dotted field ("train.lr")."""
        section, name = dotted.split(".", 1)
        return getattr(getattr(self, section), name)

    def replace_all(self, fields: dict[str, Any]) -> "Spec":
        """A copy with every dotted field of fields set; a "variant" entry sets that variant's fields."""
        out = self
        for dotted, value in fields.items():
            if dotted == "variant":
                out = out.replace_all(self.sweep.variant(value))
            else:
                out = out.replace(dotted, value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON- and TOML-ready) of the whole spec."""
        out = {s: dataclasses.asdict(getattr(self, s)) for s in ("task", "model", "train")}
        out["sweep"] = {"seeds": self.sweep.seeds, **{k: list(v) for k, v in self.sweep.axes}}
        if self.sweep.seed_data:
            out["sweep"]["seed_data"] = True
        if self.sweep.variants:
            out["sweep"]["variants"] = {name: dict(fields) for name, fields in self.sweep.variants}
        out["model"]["init_overrides"] = dict(self.model.init_overrides)
        out["name"] = self.name
        if self.reference:
            out["reference"] = self.reference
        return out
