"""lab.config.model: defaults, impossible shapes and bad overrides refused naming the field, dict/TOML trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lab.config import ModelConfig, Spec, SpecError
from lab.config.choices import BLOCKS
from lab.initializer_text import INITIALIZERS
from lab.sweeps import load_spec, spec_from_dict
from tests.helpers import toml_of

SIZES = ("d_embed", "width", "depth", "n_layers", "d_model", "n_heads", "d_head", "d_mlp")
PARITY = {"name": "parity", "n_bits": 8, "k": 3, "n_train": 100, "n_test": 100}
# specs that together set every model field away from its default (with the task each setting needs)
ROUND_TRIPS = {
    "transformer": {"model": {"init": "haiku", "init_scale": 0.5, "activation": "gelu_erf", "n_layers": 2,
                              "d_model": 64, "n_heads": 2, "d_head": 16, "d_mlp": 256, "layer_norm": True,
                              "block": "post_ln", "ln_eps": 1e-5, "attn_bias": True, "positions": "sinusoidal",
                              "readout": "vocab",
                              "init_overrides": {"W_E": "variance_scaling(2)", "W_U": "zeros"}}},
    "mlp": {"model": {"kind": "mlp", "init": "torch", "embedding": "circle", "combine": "sum", "d_embed": 16,
                      "width": 64, "depth": 3, "bias": False, "tie_embed": True, "activation": "quadratic"}},
    "parity_mlp": {"task": PARITY, "model": {"kind": "mlp", "bias_input": True, "single_logit": True,
                                             "init_from": "nanda_demo_start"}},
}


def test_the_defaults_are_nanda_et_al_2023s_one_layer_transformer():
    cfg = ModelConfig()
    cfg.validate()
    assert cfg.kind == "transformer" and cfg.n_layers == 1 and cfg.activation == "relu"
    assert (cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp) == (128, 4, 32, 512)  # the paper's shapes
    assert cfg.n_heads * cfg.d_head == cfg.d_model and cfg.d_mlp == 4 * cfg.d_model
    assert not cfg.layer_norm and not cfg.attn_bias and cfg.init_overrides == ()
    assert cfg.ln_eps == 1e-6  # Flax's LayerNorm epsilon, as the comment says (PyTorch's would be 1e-5)


def test_configs_are_frozen_and_equal_configs_hash_alike():
    cfg = ModelConfig(kind="mlp", width=64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.width = 8
    assert cfg == ModelConfig(kind="mlp", width=64) and hash(cfg) == hash(ModelConfig(kind="mlp", width=64))
    assert cfg != ModelConfig(kind="mlp", width=65)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(block="post_ln"), "model.block = 'post_ln' places LayerNorms; set model.layer_norm = true"),
        (dict(block="ln_residual"), "model.block = 'ln_residual' places LayerNorms; set model.layer_norm = true"),
        (dict(ln_eps=0.0), "model.ln_eps must be positive (got 0.0)"),
        (dict(ln_eps=-1e-5), "model.ln_eps must be positive (got -1e-05)"),
        (dict(init_scale=0.0), "model.init_scale must be positive (got 0.0)"),
        (dict(init_scale=-2.0), "model.init_scale must be positive (got -2.0)"),
        (dict(init_overrides=(("W_E", 0.1),)),
         "model.init_overrides must map parameter names to initializer strings (got 'W_E' = 0.1)"),
        (dict(init_overrides=((3, "zeros"),)),
         "model.init_overrides must map parameter names to initializer strings (got 3 = 'zeros')"),
        (dict(init_overrides=(("W_in", "zeros(1)"),)),
         "model.init_overrides.W_in: initializer 'zeros' takes no number (got 'zeros(1)')"),
        (dict(init_overrides=(("W_E", "normal_fan_in"), ("W_U", "normal(-1)"))),
         "model.init_overrides.W_U: initializer 'normal(-1)' needs a positive finite number in parentheses"),
        (dict(init_overrides=(("W_E", "zeros"), ("W_U", "zeros"), ("W_E", "normal(0.1)"))),
         "model.init_overrides names a parameter twice (['W_E']); give each parameter one initializer"),
        (dict(init_overrides=(("W_E", "glorot"),)),
         "model.init_overrides.W_E: unknown initializer 'glorot'; use one of"),
        (dict(init_from="nanda_demo_start", init_overrides=(("W_E", "zeros"),)),
         "model.init_from = 'nanda_demo_start' gives every parameter its initial value; drop model.init_overrides"),
        (dict(init_from=3), "model.init_from must be a reference name or a path (got 3)"),
        (dict(kind="mlp", embedding="onehot", tie_embed=True),
         "model.tie_embed with model.embedding = 'onehot' is the identity readout; use learned or a circle"),
        *[(dict(**{name: 0}), f"model.{name} must be at least 1 (got 0)") for name in SIZES],
    ],
)
def test_validate_refuses_with_a_one_line_message_naming_the_field(kwargs, message):
    with pytest.raises(SpecError) as err:
        ModelConfig(**kwargs).validate()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_block_validates_with_layer_norm_and_pre_ln_also_without():
    for block in BLOCKS:
        ModelConfig(block=block, layer_norm=True).validate()
    ModelConfig(block="pre_ln", layer_norm=False).validate()


def test_the_smallest_sizes_and_a_tiny_epsilon_are_accepted():
    ModelConfig(**{name: 1 for name in SIZES}, ln_eps=1e-12, init_scale=1e-6).validate()


def test_tie_embed_is_accepted_with_every_embedding_but_onehot():
    for embedding in ("learned", "circle", "circle_unit_columns"):
        ModelConfig(kind="mlp", embedding=embedding, tie_embed=True).validate()
    ModelConfig(kind="mlp", embedding="onehot", tie_embed=False).validate()


def test_every_initializer_form_is_accepted_as_an_override():
    forms = tuple((f"P{i}", f"{name}(0.5)" if takes else name) for i, (name, takes) in enumerate(INITIALIZERS.items()))
    ModelConfig(init_overrides=forms).validate()


def test_an_override_error_is_one_line_inside_a_whole_spec():
    with pytest.raises(SpecError) as err:
        spec_from_dict({"model": {"kind": "mlp", "init_overrides": {"W_in": "uniform(abc)"}}})
    assert str(err.value) == "model.init_overrides.W_in: initializer 'uniform(abc)' needs a number, e.g. uniform(1.0)"


def test_the_round_trip_cases_set_every_model_field_away_from_its_default():
    default = ModelConfig()
    changed = {f.name for raw in ROUND_TRIPS.values() for f in dataclasses.fields(ModelConfig)
               if getattr(spec_from_dict(raw).model, f.name) != getattr(default, f.name)}
    assert changed == {f.name for f in dataclasses.fields(ModelConfig)}


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_a_spec_round_trips_through_to_dict_and_json(case):
    spec = spec_from_dict(ROUND_TRIPS[case])
    assert spec_from_dict(spec.to_dict()) == spec
    again = spec_from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    for f in dataclasses.fields(ModelConfig):
        assert type(getattr(again.model, f.name)) is type(getattr(spec.model, f.name)), f.name


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_a_spec_round_trips_through_a_toml_file(case, tmp_path):
    spec = spec_from_dict(ROUND_TRIPS[case], name=case)
    path = tmp_path / "spec.toml"
    path.write_text(toml_of(spec.to_dict()))
    assert load_spec(path) == spec


def test_to_dict_writes_the_overrides_as_a_table():
    spec = Spec(model=ModelConfig(init_overrides=(("W_E", "normal(0.1)"), ("W_U", "zeros"))))
    assert spec.to_dict()["model"]["init_overrides"] == {"W_E": "normal(0.1)", "W_U": "zeros"}



def test_overrides_given_in_any_order_are_one_config_and_survive_the_round_trip():
    backwards = ModelConfig(init_overrides=(("W_U", "zeros"), ("W_E", "normal(0.1)")))
    assert backwards == ModelConfig(init_overrides=(("W_E", "normal(0.1)"), ("W_U", "zeros")))
    spec = Spec(model=backwards)
    assert spec_from_dict(spec.to_dict()) == spec
