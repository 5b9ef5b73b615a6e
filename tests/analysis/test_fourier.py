"""lab.analysis.fourier: the basis, spectra of planted signals, neuron frequencies, model shapes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models
from lab.analysis import (
    basis_frequencies,
    embedding_weights,
    fourier_2d,
    fourier_basis,
    frequency_norms,
    grid_inputs,
    key_frequencies,
    logits_grid,
    neuron_activations_grid,
    neuron_frequencies,
    summarize,
)
from lab.config import ModelConfig, Spec, TaskConfig

P = 13
TASK = TaskConfig(p=P)
TINY_TRANSFORMER = ModelConfig(d_model=32, n_heads=2, d_head=16, d_mlp=64)
TINY_TRANSFORMER_SPEC = Spec(model=TINY_TRANSFORMER, task=TASK)
init = jax.jit(models.init, static_argnums=(1, 2))  # eager Flax init dispatches op by op: slower


def _wave(k: int, x, p: int = P, fn=jnp.cos):
    """fn(2 pi k x / p)."""
    return fn(2 * jnp.pi * k * x / p)


@pytest.mark.parametrize("p", [11, 12, 13])
def test_basis_is_orthonormal_with_named_frequencies(p):
    basis_PxP, names = fourier_basis(p)
    np.testing.assert_allclose(basis_PxP @ basis_PxP.T, np.eye(p), atol=1e-5)
    freq_P = basis_frequencies(p)
    assert basis_PxP.shape == (p, p) and len(names) == p and freq_P.shape == (p,)
    assert names[:3] == ["const", "cos 1", "sin 1"] and freq_P[:3].tolist() == [0, 1, 1]
    assert freq_P.max() == p // 2 and names[-1] == (f"cos {p // 2}" if p % 2 == 0 else f"sin {p // 2}")
    np.testing.assert_allclose(basis_PxP[0], np.full(p, 1 / np.sqrt(p)), rtol=1e-6)
    np.testing.assert_allclose(basis_PxP[names.index("cos 2")], _wave(2, jnp.arange(p), p) / np.sqrt(p / 2), atol=1e-6)


def test_planted_frequencies_in_a_noisy_signal_are_found():
    x_P = jnp.arange(P)
    noise_P = 0.1 * jax.random.normal(jax.random.key(0), (P,))
    f_P = 3 * _wave(2, x_P) + 1.5 * _wave(5, x_P, fn=jnp.sin) + noise_P
    norms_K = frequency_norms(f_P, P)
    assert norms_K.shape == (P // 2 + 1,)
    np.testing.assert_allclose(jnp.sum(jnp.square(norms_K)), jnp.sum(jnp.square(f_P)), rtol=1e-5)  # Parseval
    assert set(np.argsort(-np.asarray(norms_K))[:2].tolist()) == {2, 5}
    freqs, fraction = key_frequencies(np.asarray(norms_K))
    assert freqs == [2, 5] and fraction > 0.9


def test_key_frequencies_take_the_fewest_that_reach_coverage():
    norms_K = np.sqrt([100.0, 0.0, 50.0, 30.0, 15.0, 5.0])  # k = 0 is ignored
    assert key_frequencies(norms_K, 0.5) == ([2], pytest.approx(0.5))
    assert key_frequencies(norms_K, 0.8)[0] == [2, 3]
    assert key_frequencies(norms_K, 1.0) == ([2, 3, 4, 5], pytest.approx(1.0))
    assert key_frequencies(np.zeros(4)) == ([], 0.0)


def test_embedding_mixing_two_frequencies_has_exactly_those_key_frequencies():
    x_P = jnp.arange(P)
    waves_Px4 = jnp.stack([_wave(1, x_P), _wave(1, x_P, fn=jnp.sin), _wave(4, x_P), _wave(4, x_P, fn=jnp.sin)], -1)
    mix_4xW = jax.random.normal(jax.random.key(1), (4, 24))
    w_PxW = waves_Px4 @ mix_4xW + 0.01 * jax.random.normal(jax.random.key(2), (P, 24))
    freqs, fraction = key_frequencies(np.asarray(frequency_norms(w_PxW, P)))
    assert freqs == [1, 4] and fraction > 0.99


@pytest.mark.parametrize("k", [1, 3, 6])
def test_neuron_of_a_sum_wave_has_that_frequency(k):
    a_PxP, b_PxP = jnp.meshgrid(jnp.arange(P), jnp.arange(P), indexing="ij")
    wave_PxP = _wave(k, a_PxP + b_PxP)
    relus_PxPx2 = jax.nn.relu(jnp.stack([wave_PxP, wave_PxP + 0.5], axis=-1))
    act_PxPxN = jnp.concatenate([wave_PxP[..., None], relus_PxPx2, jnp.ones((P, P, 1))], axis=-1)
    dominant_N, fraction_N = neuron_frequencies(fourier_2d(act_PxPxN, P), P)
    assert dominant_N[:3].tolist() == [k, k, k]
    assert fraction_N[0] > 0.999
    # relu(cos t) keeps (1/2)^2/2 of its variance 1/4 - 1/pi^2 at k (about 0.84; the rest in harmonics
    # 2k, 3k, ...), so its fraction cannot pass 0.9; with a bias of 0.5 it is about 0.96.
    assert 0.8 < fraction_N[1] < 0.9 and fraction_N[2] > 0.9
    assert fraction_N[3] == 0.0  # a constant neuron explains nothing and does not divide by zero


def test_fourier_2d_round_trips_and_keeps_the_channel_axis():
    act_PxPxN = jax.random.normal(jax.random.key(3), (P, P, 5))
    coef_PxPxN = fourier_2d(act_PxPxN, P)
    basis_PxP, _ = fourier_basis(P)
    back_PxPxN = jnp.einsum("ia,ijn,jb->abn", basis_PxP, coef_PxPxN, basis_PxP)
    np.testing.assert_allclose(back_PxPxN, act_PxPxN, atol=1e-5)
    np.testing.assert_allclose(fourier_2d(act_PxPxN[:, :, 2], P), coef_PxPxN[:, :, 2], atol=1e-6)
    np.testing.assert_allclose(coef_PxPxN[0, 0], act_PxPxN.sum((0, 1)) / P, rtol=1e-5)


def test_spectra_vmap_over_a_stack_of_models():
    w_MxPxW = jax.random.normal(jax.random.key(4), (3, P, 16))
    norms_MxK = jax.vmap(frequency_norms, in_axes=(0, None))(w_MxPxW, P)
    for m in range(3):
        np.testing.assert_allclose(norms_MxK[m], frequency_norms(w_MxPxW[m], P), rtol=1e-6)
    coef_MxPxPxN = jax.random.normal(jax.random.key(5), (3, P, P, 4))
    dominant_MxN, _ = jax.vmap(neuron_frequencies, in_axes=(0, None))(coef_MxPxPxN, P)
    assert dominant_MxN.tolist() == [neuron_frequencies(c, P)[0].tolist() for c in coef_MxPxPxN]


def test_grid_inputs_are_row_major_pairs():
    x_Bx3 = grid_inputs(TINY_TRANSFORMER_SPEC)
    assert x_Bx3.shape == (P * P, 3) and x_Bx3.dtype == jnp.int32
    assert x_Bx3[P + 2].tolist() == [1, 2, P] and (x_Bx3[:, 2] == P).all()
    assert grid_inputs(Spec(model=ModelConfig(kind="mlp"), task=TASK))[P * 5 + 7].tolist() == [5, 7]


def test_transformer_weights_and_activations_have_the_right_shapes():
    params = init(jax.random.key(0), TINY_TRANSFORMER, TASK)
    weights = embedding_weights(params, TINY_TRANSFORMER_SPEC)
    assert list(weights) == ["embed"] and weights["embed"].shape == (P, 32)
    np.testing.assert_array_equal(weights["embed"], params["W_E"][:P])
    act_PxPxN = jax.jit(neuron_activations_grid, static_argnums=1)(params, TINY_TRANSFORMER_SPEC)
    assert act_PxPxN.shape == (P, P, 64) and (act_PxPxN >= 0).all()
    logits_PxPxC = jax.jit(logits_grid, static_argnums=1)(params, TINY_TRANSFORMER_SPEC)
    logits_1xC = jax.jit(models.apply, static_argnums=(2, 3))(params, jnp.array([[4, 9, P]]), TINY_TRANSFORMER, TASK)
    np.testing.assert_allclose(logits_PxPxC[4, 9], logits_1xC[0], rtol=1e-5, atol=1e-5)
    summary = summarize(params, TINY_TRANSFORMER_SPEC)
    assert summary["norms"].shape == (P // 2 + 1,) and summary["neuron_freq"].shape == (64,)
    assert 1 <= summary["neuron_freq"].min() and summary["neuron_freq"].max() <= P // 2
    assert summary["neurons_per_freq"].sum() == 64 and 0.0 < summary["key_fraction"] <= 1.0


@pytest.mark.parametrize("embedding", ["learned", "onehot", "circle"])
@pytest.mark.parametrize("combine", ["concat", "sum"])
def test_mlp_weights_and_activations_have_the_right_shapes(embedding, combine):
    cfg = ModelConfig(kind="mlp", embedding=embedding, combine=combine, d_embed=8, width=16, depth=2)
    params = init(jax.random.key(0), cfg, TASK)
    weights = embedding_weights(params, Spec(model=cfg, task=TASK))
    assert list(weights) == (["a"] if combine == "sum" else ["a", "b"])
    assert all(w_PxF.shape == (P, 16) for w_PxF in weights.values())
    act_PxPxN = neuron_activations_grid(params, Spec(model=cfg, task=TASK))
    assert act_PxPxN.shape == (P, P, 16)
    _, acts = models.run_with_cache(params, jnp.array([[3, 8]]), cfg, TASK)
    np.testing.assert_allclose(act_PxPxN[3, 8], acts["mlp_post_1"][0], rtol=1e-5, atol=1e-6)
    # The first layer's pre-activation is the sum of what each operand sees (plus the bias).
    first_PxPxN = neuron_activations_grid(params, Spec(model=cfg, task=TASK), layer=0)
    w_b = weights["b" if combine == "concat" else "a"]
    expected_PxPxN = jax.nn.relu(weights["a"][:, None, :] + w_b[None, :, :] + params["b_in"][None, None])
    np.testing.assert_allclose(first_PxPxN, expected_PxPxN, rtol=1e-5, atol=1e-5)


def test_mlp_analysis_vmaps_over_models():
    cfg = ModelConfig(kind="mlp", d_embed=8, width=16)
    params_M = jax.jit(jax.vmap(lambda key: models.init(key, cfg, TASK)))(jax.random.split(jax.random.key(0), 2))
    act_MxPxPxN = jax.vmap(lambda prm: neuron_activations_grid(prm, Spec(model=cfg, task=TASK)))(params_M)
    norms_MxK = jax.vmap(lambda prm: frequency_norms(embedding_weights(prm, Spec(model=cfg, task=TASK))["a"], P))(params_M)
    assert act_MxPxPxN.shape == (2, P, P, 16) and norms_MxK.shape == (2, P // 2 + 1)
    one = jax.tree.map(lambda w: w[1], params_M)
    np.testing.assert_allclose(act_MxPxPxN[1], neuron_activations_grid(one, Spec(model=cfg, task=TASK)), rtol=1e-5, atol=1e-6)
