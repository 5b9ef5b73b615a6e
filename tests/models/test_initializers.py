"""lab.models.initializers: each preset's per-tensor statistics against its formula, overrides, and the PAIR main
model starting at the explorable's norm and loss."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models, references
from lab.config import ModelConfig, SpecError, TaskConfig
from lab.sweeps import load_spec, spec_from_dict
from tests.helpers import SWEEPS, first_models

TASK = TaskConfig(p=97)
TRUNC_STD = 0.87962566103423978  # the std of a standard normal truncated to [-2, 2]


def _init(seed: int = 0, **model) -> dict:
    cfg = ModelConfig(kind="mlp", d_embed=256, width=512, depth=2, **model)
    return models.init(jax.random.key(seed), cfg, TASK)


def _stats(w) -> tuple[float, float, float]:
    w = np.asarray(w, np.float64)
    return float(w.mean()), float(w.std()), float(np.abs(w).max())


def test_lab_preset_is_the_original_scheme_bit_for_bit():
    params = _init()
    again = _init(init="lab")
    jax.tree.map(np.testing.assert_array_equal, params, again)
    _, std, _ = _stats(params["W_E"])
    assert abs(std - 1.0) < 0.02
    for name, fan_in in (("W_in", 512), ("W_hidden_1", 512), ("W_out", 512)):
        assert abs(_stats(params[name])[1] * math.sqrt(fan_in) - 1.0) < 0.02, name
    assert not np.any(params["b_in"])


def test_haiku_preset_is_hk_linear_and_hk_embed():
    params = _init(init="haiku")
    for name, fan_in in (("W_in", 512), ("W_hidden_1", 512), ("W_out", 512)):
        mean, std, peak = _stats(params[name])
        bound = 1 / math.sqrt(fan_in)
        assert abs(mean) < 0.01 * bound and abs(std / bound - TRUNC_STD) < 0.01, name  # stddev 1/sqrt(fan_in), cut
        assert peak <= 2 * bound + 1e-7, name  # truncated at two stddevs
    _, std, peak = _stats(params["W_E"])
    assert abs(std - TRUNC_STD) < 0.01 and peak <= 2.0 + 1e-6
    assert not np.any(params["b_hidden_1"])


def test_torch_preset_is_nn_linear_and_nn_embedding():
    params = _init(init="torch")
    for name, fan_in in (("W_in", 512), ("W_out", 512), ("b_in", 512), ("b_out", 512)):
        mean, std, peak = _stats(params[name])
        bound = 1 / math.sqrt(fan_in)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases alike
        assert peak <= bound and abs(std / (bound / math.sqrt(3)) - 1) < (0.02 if name[0] == "W" else 0.2), name
    _, std, _ = _stats(params["W_E"])
    assert abs(std - 1.0) < 0.02  # nn.Embedding: N(0, 1)


def test_variance_scaling_override_is_haikus_variance_scaling():
    params = _init(init="haiku", init_overrides=(("W_E", "variance_scaling(2)"),))
    mean, std, peak = _stats(params["W_E"])  # [97, 256]: fan_in = 97, as Haiku counts a 2-D parameter
    assert abs(std - math.sqrt(2 / 97)) < 0.01 * math.sqrt(2 / 97)  # the truncation is corrected for
    assert peak <= 2 * math.sqrt(2 / 97) / TRUNC_STD + 1e-6
    other = _init(init="haiku")
    np.testing.assert_array_equal(params["W_in"], other["W_in"])  # only the named parameter changes


@pytest.mark.parametrize("text,std", [("normal(0.1)", 0.1), ("uniform(0.3)", 0.3 / math.sqrt(3)),
                                      ("truncated_normal(1.0)", TRUNC_STD), ("normal_fan_in", 1 / math.sqrt(512))])
def test_override_forms_have_their_formulas_statistics(text, std):
    params = _init(init_overrides=(("W_hidden_1", text),))
    assert abs(_stats(params["W_hidden_1"])[1] / std - 1) < 0.02


def test_transformer_presets_cover_every_parameter():
    cfg = ModelConfig(kind="transformer", init="torch")
    params = models.init(jax.random.key(0), cfg, TASK)
    w_o = np.asarray(params["block_0_attn"]["W_O"])
    assert np.abs(w_o).max() <= 1 / math.sqrt(cfg.n_heads * cfg.d_head)  # fan-in of W_O: all heads' outputs
    assert abs(np.asarray(params["W_E"]).std() - 1.0) < 0.02
    assert np.any(np.asarray(params["block_0_mlp"]["b_in"]))  # torch biases are drawn too


def test_bad_overrides_are_one_line_errors():
    with pytest.raises(SpecError, match="model.init_overrides.W_E: unknown initializer 'xavier'"):
        spec_from_dict({"model": {"kind": "mlp", "init_overrides": {"W_E": "xavier"}}})
    with pytest.raises(SpecError, match="needs a number"):
        spec_from_dict({"model": {"kind": "mlp", "init_overrides": {"W_E": "normal"}}})
    with pytest.raises(SpecError, match="model.init = 'keras' is not allowed"):
        spec_from_dict({"model": {"kind": "mlp", "init": "keras"}})
    cfg = ModelConfig(kind="mlp", init_overrides=(("W_Q", "zeros"),))
    with pytest.raises(SpecError, match="names 'W_Q', which this model does not have; its parameters: W_E, W_in"):
        models.init(jax.random.key(0), cfg, TASK)


def test_overrides_read_from_a_toml_table_and_round_trip():
    spec = spec_from_dict({"model": {"kind": "mlp", "init": "haiku", "init_overrides": {"W_E": "variance_scaling(2)"}}})
    assert spec.model.init_overrides == (("W_E", "variance_scaling(2)"),)
    assert spec_from_dict(spec.to_dict()) == spec
    flat = spec_from_dict({"model": {"kind": "mlp", "init_overrides.W_in": "zeros"}})  # as --set writes it
    assert dict(flat.model.init_overrides) == {"W_in": "zeros"}
    assert not np.any(np.asarray(models.init(jax.random.key(0), flat.model, flat.task)["W_in"]))


def test_init_scale_still_multiplies_every_preset():
    cfg = ModelConfig(kind="mlp", d_embed=8, width=16, init="haiku")
    base = models.init(jax.random.key(0), cfg, TASK)
    scaled = models.init(jax.random.key(0), dataclasses.replace(cfg, init_scale=3.0), TASK)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(3 * np.asarray(a), b, rtol=1e-6), base, scaled)
    assert jnp.asarray(scaled["W_in"]).dtype == jnp.float32


def test_main_model_starts_at_the_explorables_norm_and_loss():
    spec = load_spec(SWEEPS / "pair_modadd.toml")
    page = references.load("pair_modadd_seeds")
    first = first_models(spec, 8)
    norms = [m["weight_norm"] for _, _, m in first]
    assert abs(np.mean(norms) - 37.39) < 0.4  # the notebook's logged run: 37.39 (the old N(0, 1) embedding: 184)
    for state, data, m in first:
        assert page.train_loss_0.min() <= m["train_loss"] <= page.train_loss_0.max()  # CE / 67 of the 450 runs
        assert int(data.w_train.sum()) == 911 and int(data.w_test.sum()) == 2278 - 911
        assert state.params["W_in"].dtype == jnp.float64  # jax_enable_x64, as the notebook
    assert len({int(d.x_train[0, 0]) * 67 + int(d.x_train[0, 1]) for _, d, _ in first}) > 1  # a split per seed


def test_init_from_gives_every_model_the_files_arrays():
    spec = load_spec(SWEEPS / "nanda_demo.toml")
    start = references.arrays("nanda_demo_start")
    for seed in (0, 1):
        params = models.init(jax.random.key(seed), spec.model, spec.task)
        for path, w in jax.tree_util.tree_flatten_with_path(params)[0]:
            assert np.array_equal(w, start["/".join(str(k.key) for k in path)])
    scaled = models.init(jax.random.key(0), spec.model, spec.task, init_scale=2.0)
    assert np.array_equal(scaled["W_E"], 2 * start["W_E"])


def test_init_from_reads_past_a_files_split_arrays(tmp_path):
    spec = load_spec(SWEEPS / "nanda_demo.toml")
    weights = {k: v for k, v in references.arrays("nanda_demo_start").items() if k != "train_index"}
    np.savez(tmp_path / "start.npz", order=np.arange(113 * 113), **weights)  # a split in the order form beside them
    params = models.init(jax.random.key(0), dataclasses.replace(spec.model, init_from=str(tmp_path / "start.npz")),
                         spec.task)
    assert np.array_equal(params["W_U"], weights["W_U"])


def test_init_from_a_file_that_does_not_fit_the_model_is_a_one_line_error(tmp_path):
    spec = load_spec(SWEEPS / "nanda_demo.toml")
    cases = [
        (dataclasses.replace(spec.model, readout="vocab"), "nanda_demo_start",
         "model.init_from = 'nanda_demo_start' has W_U of shape [128, 113]; the model's is [128, 114]"),
        (dataclasses.replace(spec.model, bias=True), "nanda_demo_start",
         "model.init_from = 'nanda_demo_start' has no block_0_mlp/b_in; the model's parameters: W_E, W_U, W_pos,"),
        (dataclasses.replace(spec.model, positions="sinusoidal"), "nanda_demo_start",
         "model.init_from = 'nanda_demo_start' has W_pos, which this model does not have; its parameters: W_E, W_U,"),
        (spec.model, str(tmp_path / "missing.npz"),
         f"is neither a reference ({', '.join(references.ARRAY_SOURCES)}) nor an .npz file"),
    ]
    for cfg, name, message in cases:
        with pytest.raises(SpecError) as err:
            models.init(jax.random.key(0), dataclasses.replace(cfg, init_from=name), spec.task)
        assert message in str(err.value) and "\n" not in str(err.value)
