"""lab.analysis.neurons_fourier: planted frequencies recovered by summarize, grids against apply, tokens, errors."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models
from lab.analysis.neurons_fourier import (
    grid_inputs,
    logits_grid,
    neuron_activations_grid,
    summarize,
)
from lab.config import ModelConfig, Spec, SpecError, TaskConfig
from lab.errors import LabError

P, K1, K2, F = 11, 2, 5, 8
A1, A2, BIAS = 2.0, 1.0, 10.0  # amplitudes of the two neuron groups; the bias keeps every pre-activation > 0
PLANTED = Spec(task=TaskConfig(p=P), model=ModelConfig(kind="mlp", d_embed=4, width=F))
acts_grid = jax.jit(neuron_activations_grid, static_argnums=1, static_argnames="layer")


def _planted_params(seed: int = 0) -> tuple[dict, np.ndarray]:
    """An MLP whose neuron n computes BIAS + amp_n (cos(k_n a + phi_n) + cos(k_n b + phi_n)), with its grid [p, p, F].

    Neurons 0-3 use K1 (amplitude A1), 4-7 use K2 (A2); the ReLU never cuts (the bias), so each neuron is exactly
    a wave of its one frequency in a and in b. W_E[v] = [cos K1 v, sin K1 v, cos K2 v, sin K2 v]; the readout
    is drawn with `seed`.
    """
    v_P = np.arange(P)
    e_Px4 = np.stack([np.cos(2 * np.pi * K1 * v_P / P), np.sin(2 * np.pi * K1 * v_P / P),
                      np.cos(2 * np.pi * K2 * v_P / P), np.sin(2 * np.pi * K2 * v_P / P)], axis=1)
    phi_F = np.linspace(0.0, 2.5, F)
    k_F, amp_F, first_F = np.repeat([K1, K2], 4), np.repeat([A1, A2], 4), np.repeat([0, 2], 4)
    w_in_8xF = np.zeros((8, F))
    for n in range(F):  # cos(k v + phi) = cos(k v) cos(phi) - sin(k v) sin(phi)
        for operand in (0, 4):
            w_in_8xF[operand + first_F[n], n] = amp_F[n] * np.cos(phi_F[n])
            w_in_8xF[operand + first_F[n] + 1, n] = -amp_F[n] * np.sin(phi_F[n])
    rng = np.random.default_rng(seed)
    params = {"W_E": e_Px4.astype(np.float32), "W_in": w_in_8xF.astype(np.float32),
              "b_in": np.full(F, BIAS, np.float32), "W_out": rng.normal(0.0, 0.3, (F, P)).astype(np.float32),
              "b_out": rng.normal(0.0, 0.3, P).astype(np.float32)}
    a_Px1x1, b_1xPx1 = v_P[:, None, None], v_P[None, :, None]
    wave_PxPxF = (np.cos(2 * np.pi * k_F * a_Px1x1 / P + phi_F) + np.cos(2 * np.pi * k_F * b_1xPx1 / P + phi_F))
    return params, BIAS + amp_F * wave_PxPxF


def test_planted_neuron_frequencies_and_embedding_spectrum_are_recovered():
    params, act_PxPxF = _planted_params()
    np.testing.assert_allclose(acts_grid(params, PLANTED), act_PxPxF, rtol=1e-5, atol=1e-4)
    summary = summarize(params, PLANTED)
    assert summary["neuron_freq"].tolist() == [K1] * 4 + [K2] * 4
    np.testing.assert_allclose(summary["neuron_fraction"], 1.0, atol=1e-4)
    assert summary["neurons_per_freq"].tolist() == [4 if k in (K1, K2) else 0 for k in range(P // 2 + 1)]
    # Each operand's first-layer weight is amp cos(k v + phi) per neuron: norm_k^2 = sum_n amp_n^2 p / 2 (Parseval).
    expected_K = np.zeros(P // 2 + 1)
    expected_K[K1], expected_K[K2] = np.sqrt(4 * A1**2 * P / 2), np.sqrt(4 * A2**2 * P / 2)
    assert set(summary["embed_norms"]) == {"a", "b"}
    for norms_K in summary["embed_norms"].values():
        np.testing.assert_allclose(norms_K, expected_K, atol=1e-4)
    np.testing.assert_allclose(summary["norms"], np.sqrt(2) * expected_K, atol=1e-4)
    # K1 holds A1^2 / (A1^2 + A2^2) = 0.8 of the spectrum: coverage 0.9 needs both, 0.75 only K1.
    assert summary["key_freqs"] == [K1, K2] and summary["key_fraction"] == pytest.approx(1.0, abs=1e-6)
    strict = summarize(params, PLANTED, coverage=0.75)
    assert strict["key_freqs"] == [K1] and strict["key_fraction"] == pytest.approx(0.8, abs=1e-5)


def test_a_model_handle_gives_the_same_grids_as_params_with_their_spec():
    params, _ = _planted_params()
    handle = SimpleNamespace(params=params, spec=PLANTED)  # what run.model(i) offers
    np.testing.assert_array_equal(neuron_activations_grid(handle), neuron_activations_grid(params, PLANTED))
    np.testing.assert_array_equal(logits_grid(handle), logits_grid(params, PLANTED))
    assert summarize(handle)["neuron_freq"].tolist() == summarize(params, PLANTED)["neuron_freq"].tolist()
    np.testing.assert_array_equal(grid_inputs(handle), grid_inputs(PLANTED))
    with pytest.raises(LabError, match="not both"):
        summarize(handle, PLANTED)
    with pytest.raises(LabError, match="got params with dict"):
        logits_grid(params, PLANTED.to_dict())


def test_logits_grid_is_apply_on_every_pair_in_row_major_order():
    cfg = ModelConfig(kind="mlp", d_embed=8, width=16, depth=2)
    spec = Spec(task=TaskConfig(p=P), model=cfg)
    rng = np.random.default_rng(1)
    shapes = {"W_E": (P, 8), "W_in": (16, 16), "b_in": (16,), "W_hidden_1": (16, 16), "b_hidden_1": (16,),
              "W_out": (16, P), "b_out": (P,)}  # models.init's names and shapes
    params = {name: rng.normal(0.0, 0.5, shape).astype(np.float32) for name, shape in shapes.items()}
    pairs_Nx2 = jnp.asarray([[a, b] for a in range(P) for b in range(P)], jnp.int32)
    logits_PxPxC = jax.jit(logits_grid, static_argnums=1)(params, spec)
    assert logits_PxPxC.shape == (P, P, P)
    logits_NxC, cache = jax.jit(models.run_with_cache, static_argnums=(2, 3))(params, pairs_Nx2, cfg, spec.task)
    np.testing.assert_allclose(logits_PxPxC.reshape(P * P, P), logits_NxC, rtol=1e-6, atol=1e-6)
    for layer, site in [("auto", "mlp_post_1"), (0, "mlp_post_0"), (-2, "mlp_post_0")]:
        np.testing.assert_allclose(acts_grid(params, spec, layer=layer).reshape(P * P, 16),
                                   cache[site], rtol=1e-6, atol=1e-6)
    with pytest.raises(SpecError, match="layer 2 is out of range for a model of 2 layers"):
        neuron_activations_grid(params, spec, layer=2)


def test_logits_grid_vmaps_over_stacked_params():
    params_M = jax.tree.map(lambda *w: np.stack(w), *(_planted_params(seed)[0] for seed in range(3)))
    logits_MxPxPxC = jax.jit(jax.vmap(lambda prm: logits_grid(prm, PLANTED)))(params_M)
    assert logits_MxPxPxC.shape == (3, P, P, P)
    one_grid = jax.jit(logits_grid, static_argnums=1)
    for m in range(3):
        one = jax.tree.map(lambda w, m=m: w[m], params_M)
        np.testing.assert_allclose(logits_MxPxPxC[m], one_grid(one, PLANTED), rtol=1e-5, atol=1e-6)
    assert np.abs(logits_MxPxPxC[0] - logits_MxPxPxC[1]).max() > 1e-3  # the models differ


@pytest.mark.parametrize("sequence, row", [("a_b_eq", ["a", "b", "="]), ("a_op_b_eq", ["a", "op", "b", "="]),
                                           ("eos_a_op_b_eq_c", ["eos", "a", "op", "b", "=", 0])])
def test_transformer_grid_inputs_follow_the_task_sequence(sequence, row):
    spec = Spec(task=TaskConfig(p=P, sequence=sequence), model=ModelConfig(d_model=16, n_heads=2, d_head=8, d_mlp=16))
    x_NxL = np.asarray(grid_inputs(spec))
    assert x_NxL.shape == (P * P, len(row)) and x_NxL.dtype == np.int32
    tokens = {"=": P, "op": P + 1, "eos": P + 2}
    for a, b in [(0, 0), (3, 7), (10, 4)]:
        expected = [a if t == "a" else b if t == "b" else tokens.get(t, t) for t in row]
        assert x_NxL[a * P + b].tolist() == expected


@pytest.mark.parametrize("task", [TaskConfig(name="parity", n_bits=6, k=2, n_train=8, n_test=8),
                                  TaskConfig(name="integer", p=P)])
def test_tasks_other_than_modular_arithmetic_are_refused(task):
    spec = Spec(task=task, model=ModelConfig(kind="mlp", d_embed=4, width=8))
    with pytest.raises(LabError, match=f"Fourier analysis needs task.name = 'modular' \\(got '{task.name}'\\)"):
        grid_inputs(spec)
    with pytest.raises(LabError, match="Fourier analysis needs task.name = 'modular'"):
        summarize(_planted_params()[0], spec)  # refused before the params are read
    with pytest.raises(LabError, match="expected run.model\\(i\\) or a lab.config.Spec, got dict"):
        grid_inputs({"task": "modular"})
