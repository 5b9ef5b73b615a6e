"""lab.config.choices: each tuple is what its field accepts; SpecError, the checks, and the per-model fields."""

from __future__ import annotations

import pytest

import lab
from lab.config import Spec, choices
from lab.config.choices import SpecError, _check, _choice, _is_prime
from lab.errors import LabError
from lab.sweeps import HParams, expand
from tests.helpers import tiny_spec

MLP = {"model.kind": "mlp"}
# each choice tuple -> the dotted field it lists, and the other fields a spec needs so that every value is usable
CHOICE_FIELDS = {
    "TASKS": ("task.name", MLP),
    "MODULAR_OPS": ("task.op", {}),
    "INTEGER_OPS": ("task.op", {"task.name": "integer"}),
    "SEQUENCES": ("task.sequence", {"model.readout": "vocab"}),
    "BIT_CODES": ("task.bits", {"task.name": "parity", **MLP}),
    "COMPOSE_RULES": ("task.compose_rule", {"task.name": "skill_composition", **MLP}),
    "MODEL_KINDS": ("model.kind", {}),
    "EMBEDDINGS": ("model.embedding", MLP),
    "ACTIVATIONS": ("model.activation", {}),
    "COMBINES": ("model.combine", MLP),
    "INIT_PRESETS": ("model.init", {}),
    "BLOCKS": ("model.block", {"model.layer_norm": True}),
    "POSITIONS": ("model.positions", {}),
    "READOUTS": ("model.readout", {}),
    "OPTIMIZERS": ("train.optimizer", {}),
    "DECAYS": ("train.decay", {"train.optimizer": "adam"}),
    "DTYPES": ("train.dtype", {}),
    "PRECISIONS": ("train.matmul_precision", {}),
    "LOSSES": ("train.loss", {}),
    "LOSS_PRECISIONS": ("train.loss_precision", {}),
    "GRAD_FILTERS": ("train.grad_filter", {}),
    "RETIRE_RULES": ("train.retire_rule", {}),
    "SAMPLINGS": ("train.sampling", {"train.batch_size": 32}),
}
CASES = [(const, value) for const, _ in CHOICE_FIELDS.items() for value in getattr(choices, const)]
# two valid values of each per-model field, for a sweep along it
PER_MODEL_VALUES = {
    "train.lr": (1e-2, 3e-2),
    "train.weight_decay": (0.0, 1.0),
    "train.seed": (0, 1),
    "model.init_scale": (0.5, 2.0),
    "task.data_seed": (0, 3),
    "task.train_frac": (0.3, 0.6),
    "train.grokfast_alpha": (0.9, 0.98),
    "train.grokfast_lambda": (1.0, 5.0),
}


def _spec(fields: dict) -> Spec:
    return Spec().replace_all(fields)


def _tuples_of_names() -> set[str]:
    return {name for name, v in vars(choices).items()
            if name.isupper() and isinstance(v, tuple) and all(isinstance(s, str) for s in v)}


def test_spec_error_is_a_lab_error_and_a_value_error():
    assert issubclass(SpecError, LabError) and issubclass(SpecError, ValueError)
    with pytest.raises(lab.LabError, match=r"model\.width must be at least 1"):
        _spec({"model.width": 0}).validate()
    with pytest.raises(ValueError):
        _spec({"train.lr": -1.0}).validate()


def test_check_raises_its_message_only_when_the_condition_fails():
    _check(True, "never shown")
    with pytest.raises(SpecError) as err:
        _check(False, "train.lr must be positive (got 0)")
    assert str(err.value) == "train.lr must be positive (got 0)"


def test_choice_accepts_each_allowed_value_and_lists_them_all_for_another():
    allowed = ("relu", "gelu", "tanh")
    for value in allowed:
        _choice("model.activation", value, allowed)
    with pytest.raises(SpecError) as err:
        _choice("model.activation", "swish", allowed)
    assert str(err.value) == "model.activation = 'swish' is not allowed; choose one of relu, gelu, tanh"
    with pytest.raises(SpecError):
        _choice("model.activation", "RELU", allowed)  # no case folding


def test_is_prime_agrees_with_a_sieve():
    n_max = 500
    sieve = [False, False] + [True] * (n_max - 1)
    for i in range(2, n_max + 1):
        if sieve[i]:
            for j in range(i * i, n_max + 1, i):
                sieve[j] = False
    assert [n for n in range(-3, n_max + 1) if _is_prime(n)] == [n for n in range(n_max + 1) if sieve[n]]
    assert not any(_is_prime(q * q) for q in (2, 3, 5, 7, 11, 13, 17, 19, 23))  # squares at the root's edge
    assert _is_prime(97) and _is_prime(113) and not _is_prime(97 * 113)


def test_the_table_covers_every_choice_tuple_of_the_module():
    assert set(CHOICE_FIELDS) == _tuples_of_names() - {"TABLE_TASKS", "REFERENCES", "PER_MODEL_FIELDS"}


@pytest.mark.parametrize("const", sorted(_tuples_of_names()))
def test_choice_tuples_are_non_empty_without_repeats(const):
    values = getattr(choices, const)
    assert values and len(set(values)) == len(values) and all(values)


def test_integer_ops_and_table_tasks_are_subsets():
    assert set(choices.INTEGER_OPS) < set(choices.MODULAR_OPS)
    assert set(choices.TABLE_TASKS) < set(choices.TASKS)
    for name in choices.TASKS:
        assert _spec({"task.name": name, **MLP}).task.is_table == (name in choices.TABLE_TASKS)


@pytest.mark.parametrize("const,value", CASES, ids=[f"{c}-{v}" for c, v in CASES])
def test_every_listed_value_is_accepted_by_its_field(const, value):
    dotted, context = CHOICE_FIELDS[const]
    spec = _spec({**context, dotted: value})
    spec.validate()
    assert spec.get(dotted) == value


@pytest.mark.parametrize("const", list(CHOICE_FIELDS))
def test_a_value_outside_the_tuple_is_refused_naming_the_field_and_every_choice(const):
    dotted, context = CHOICE_FIELDS[const]
    with pytest.raises(SpecError) as err:
        _spec({**context, dotted: "bogus"}).validate()
    assert str(err.value) == f"{dotted} = 'bogus' is not allowed; choose one of {', '.join(getattr(choices, const))}"


def test_an_integer_task_refuses_the_modular_only_ops():
    for op in set(choices.MODULAR_OPS) - set(choices.INTEGER_OPS):
        _spec({"task.op": op}).validate()
        with pytest.raises(SpecError, match=r"task\.op = .* is not allowed; choose one of x\+y, x-y, x\*y$"):
            _spec({"task.name": "integer", "task.op": op}).validate()


def test_every_reference_is_accepted_and_an_unknown_one_listed_against_them():
    for name in choices.REFERENCES:
        Spec(reference=name).validate()
    with pytest.raises(SpecError) as err:
        Spec(reference="nanda_2023").validate()
    assert str(err.value) == f"reference = 'nanda_2023' is not known; choose one of {', '.join(choices.REFERENCES)}"


def test_hparam_fields_name_the_hparams_and_numeric_spec_fields():
    assert set(choices.HPARAM_FIELDS) == set(HParams._fields)
    assert choices.PER_MODEL_FIELDS == tuple(choices.HPARAM_FIELDS.values())
    assert set(PER_MODEL_VALUES) == set(choices.PER_MODEL_FIELDS)
    spec = Spec()
    for dotted in choices.PER_MODEL_FIELDS:
        value = spec.get(dotted)
        assert isinstance(value, (int, float)) and not isinstance(value, bool), dotted


@pytest.mark.parametrize("dotted", list(PER_MODEL_VALUES))
def test_sweeping_a_per_model_field_keeps_the_models_in_one_group(dotted):
    seeds = 1 if dotted == "train.seed" else 2  # a train.seed axis replaces sweep.seeds
    groups = expand(tiny_spec(seeds=seeds, axes=[(dotted, PER_MODEL_VALUES[dotted])]))
    assert len(groups) == 1 and groups[0].size == 2 * seeds
    name = next(k for k, v in choices.HPARAM_FIELDS.items() if v == dotted)
    column = [float(x) for x in getattr(groups[0].hparams(), name)]  # the swept values on the model axis
    assert sorted(set(column)) == pytest.approx(sorted(float(v) for v in PER_MODEL_VALUES[dotted]))


def test_sweeping_a_shape_field_splits_the_groups_by_contrast():
    assert "model.width" not in choices.PER_MODEL_FIELDS
    assert [g.size for g in expand(tiny_spec(seeds=2, axes=[("model.width", (8, 16))]))] == [2, 2]
