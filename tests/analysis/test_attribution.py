"""lab.analysis.attribution: DLA against numpy, patching against one ablation at a time, the smallest sufficient set
and ablation curves, on a planted model whose extra neurons are dead."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from lab import models
from lab.analysis.ablation import ablate, random_ablation_baseline
from lab.analysis.activations import complete_dataset
from lab.analysis.attribution import (
    ablation_curve,
    direct_logit_attribution,
    patching_effects,
    smallest_sufficient_set,
)
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.errors import LabError
from tests.helpers import train_one

TASK = TaskConfig(p=11, train_frac=1.0)
SPEC = Spec(task=TASK, model=ModelConfig(kind="mlp", d_embed=16, width=24),
            train=TrainConfig(lr=1e-2, weight_decay=0.1, steps=300, log_every=300))
N_DEAD = 24
PLANTED_CFG = dataclasses.replace(SPEC.model, width=SPEC.model.width + N_DEAD)
TRANSFORMER = ModelConfig(kind="transformer", d_model=16, n_heads=2, d_head=8, d_mlp=32)


def _trained_params(spec: Spec) -> dict:
    """One model of `spec` trained for its steps on every pair (one chunk), as numpy weights."""
    return train_one(spec, TASK.p**2)


@pytest.fixture(scope="module")
def trained():
    """A width-24 MLP trained on every pair of x + y mod 11 (it fits them: memorised, not grokked)."""
    return _trained_params(SPEC)


@pytest.fixture(scope="module")
def planted(trained):
    """The trained MLP with N_DEAD extra neurons (random inputs, zero readout rows) shuffled among its own.

    Returns (params, live neuron indices, x, y): only the live neurons can affect the logits.
    """
    rng = np.random.default_rng(0)
    n_f = PLANTED_CFG.width
    live_L = np.sort(rng.permutation(n_f)[: SPEC.model.width])
    w_in_IxF = rng.normal(0, 0.3, (trained["W_in"].shape[0], n_f)).astype(np.float32)
    b_in_F = rng.normal(0, 0.3, n_f).astype(np.float32)
    w_out_FxC = np.zeros((n_f, TASK.p), np.float32)
    w_in_IxF[:, live_L], b_in_F[live_L], w_out_FxC[live_L] = trained["W_in"], trained["b_in"], trained["W_out"]
    params = {**trained, "W_in": w_in_IxF, "b_in": b_in_F, "W_out": w_out_FxC}
    x, y = complete_dataset(PLANTED_SPEC)
    plain = np.asarray(models.apply(trained, x, SPEC.model, TASK))
    np.testing.assert_allclose(np.asarray(models.apply(params, x, PLANTED_CFG, TASK)), plain, atol=1e-5)
    return params, live_L, x, y


def _random_params(cfg: ModelConfig, task: TaskConfig, seed: int) -> dict:
    """Random numpy weights with `models.init`'s shapes, std 0.5 (eager Flax init takes seconds on a CPU)."""
    shapes = jax.eval_shape(lambda key: models.init(key, cfg, task), jax.random.key(0))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: rng.normal(0, 0.5, s.shape).astype(np.float32), shapes)


def _numpy_dla(acts_NxF, w_FxC, y_N, scale_N=None):
    """mean_i acts[i, n] * scale_i * (W[n, y_i] - mean_c W[n, c]), in float64 numpy."""
    centred_FxC = w_FxC - w_FxC.mean(axis=1, keepdims=True)
    scale_N = np.ones(len(y_N)) if scale_N is None else scale_N
    return np.mean(acts_NxF * centred_FxC[:, y_N].T * scale_N[:, None], axis=0)


DEEP = dataclasses.replace(SPEC, model=dataclasses.replace(SPEC.model, depth=2))
DEEP_SPEC = Spec(model=DEEP.model, task=TASK)
PLANTED_SPEC = Spec(model=PLANTED_CFG, task=TASK)


@pytest.fixture(scope="module")
def deep():
    """A depth-2 MLP (24 + 24 neurons) trained on every pair of x + y mod 11."""
    return (_trained_params(DEEP), *complete_dataset(DEEP_SPEC))


def test_dla_of_an_mlp_matches_numpy_and_is_zero_for_dead_neurons(planted):
    params, live_L, x, y = planted
    _, acts = models.run_with_cache(params, x, PLANTED_CFG, TASK)
    acts_NxF = np.asarray(acts["mlp_post_0"], np.float64)
    expected_F = _numpy_dla(acts_NxF, np.asarray(params["W_out"], np.float64), y)
    dla_F = direct_logit_attribution(params, PLANTED_SPEC, x=x, y=y, chunk=50)  # 121 rows: padded chunks
    np.testing.assert_allclose(dla_F, expected_F, rtol=1e-5, atol=1e-6)
    dead_F = np.ones(PLANTED_CFG.width, bool)
    dead_F[live_L] = False
    assert np.all(dla_F[dead_F] == 0) and np.all(np.abs(dla_F[live_L]) > 0)
    assert dla_F.sum() > 0  # a model that fits its data pushes the right logit up, on the whole


@pytest.mark.parametrize("layer_norm", [False, True])
def test_dla_of_a_transformer_matches_numpy_and_adds_up_to_the_logit(layer_norm):
    cfg = dataclasses.replace(TRANSFORMER, layer_norm=layer_norm)
    task = TaskConfig(p=7)
    params = _random_params(cfg, task, seed=1)  # random LayerNorm scales and biases too
    if layer_norm:
        params["ln_final"]["scale"] = 1 + params["ln_final"]["scale"]
    x, y = complete_dataset(Spec(model=cfg, task=task))
    logits_NxC, acts = models.run_with_cache(params, x, cfg, task)
    acts_NxF = np.asarray(acts["block_0_mlp/mlp_post"][:, -1], np.float64)
    resid_NxD = np.asarray(acts["block_0_resid_post"][:, -1], np.float64)
    mid_NxD = np.asarray(acts["block_0_resid_mid"][:, -1], np.float64)
    mlp, w_U_DxC = params["block_0_mlp"], np.asarray(params["W_U"], np.float64)
    w_out_FxD, b_out_D = np.asarray(mlp["W_out"], np.float64), np.asarray(mlp["b_out"], np.float64)
    gamma_D = np.asarray(params["ln_final"]["scale"], np.float64) if layer_norm else np.ones(16)
    beta_D = np.asarray(params["ln_final"]["bias"], np.float64) if layer_norm else np.zeros(16)

    def centre(v):
        return v - v.mean(axis=-1, keepdims=True) if layer_norm else v

    scale_N = 1 / np.sqrt(resid_NxD.var(axis=1) + 1e-6) if layer_norm else np.ones(len(y))
    expected_F = _numpy_dla(acts_NxF, (centre(w_out_FxD) * gamma_D) @ w_U_DxC, y, scale_N)
    dla_F = direct_logit_attribution(params, Spec(model=cfg, task=task), x=x, y=y)
    np.testing.assert_allclose(dla_F, expected_F, rtol=1e-4, atol=1e-6)
    # The neurons' shares plus the other paths into the (frozen-scale) final LayerNorm give the logit.
    other_NxD = centre(mid_NxD + b_out_D) * gamma_D * scale_N[:, None] + beta_D
    other_NxC = other_NxD @ w_U_DxC
    other_N = other_NxC[np.arange(len(y)), y] - other_NxC.mean(axis=1)
    logits_NxC = np.asarray(logits_NxC, np.float64)
    target_N = logits_NxC[np.arange(len(y)), y] - logits_NxC.mean(axis=1)
    assert dla_F.sum() + other_N.mean() == pytest.approx(target_N.mean(), abs=1e-4)
    assert np.abs(dla_F).max() > 1e-3  # not vacuous


def test_patching_matches_one_ablation_at_a_time_and_ignores_dead_neurons(planted):
    params, live_L, x, y = planted
    plain = ablate(params, PLANTED_SPEC, x=x, y=y)
    dead = np.setdiff1d(np.arange(PLANTED_CFG.width), live_L)
    for mode in ("mean", "zero"):
        effects_F = patching_effects(params, PLANTED_SPEC, x=x, y=y, mode=mode, batch=5, chunk=64)
        assert effects_F.shape == (PLANTED_CFG.width,)
        for n in [*live_L[:3], dead[0]]:
            looped = ablate(params, PLANTED_SPEC, x=x, y=y, neurons=[n], mode=mode)["loss"] - plain["loss"]
            assert effects_F[n] == pytest.approx(looped, abs=1e-5)
        np.testing.assert_allclose(effects_F[dead], 0, atol=1e-6)
        assert effects_F[live_L].max() > 1e-2
    default_F = patching_effects(params, PLANTED_SPEC, x=x, y=y)  # one batch of all 49 masks, one chunk
    np.testing.assert_allclose(default_F, patching_effects(params, PLANTED_SPEC, x=x, y=y, batch=7), atol=1e-6)


def test_patching_of_a_transformer_matches_one_ablation_at_a_time():
    task = TaskConfig(p=7)
    params = _random_params(TRANSFORMER, task, seed=2)
    x, y = complete_dataset(Spec(model=TRANSFORMER, task=task))
    effects_F = patching_effects(params, Spec(model=TRANSFORMER, task=task), x=x, y=y, batch=8)
    plain = ablate(params, Spec(model=TRANSFORMER, task=task), x=x, y=y)["loss"]
    for n in (0, 13, 31):
        looped = ablate(params, Spec(model=TRANSFORMER, task=task), x=x, y=y, neurons=[n], mode="mean")["loss"] - plain
        assert effects_F[n] == pytest.approx(looped, abs=1e-5)
    assert np.abs(effects_F).max() > 0


def test_smallest_sufficient_set_stays_within_the_live_neurons_and_is_minimal(planted):
    params, live_L, x, y = planted
    keep = 0.9
    found = smallest_sufficient_set(params, PLANTED_SPEC, x=x, y=y, keep=keep)
    target = keep * found["plain_accuracy"]
    assert found["plain_accuracy"] > 0.8
    assert 0 < found["k"] <= len(live_L) and found["fraction"] == found["k"] / PLANTED_CFG.width
    assert found["accuracy"] >= target
    assert found["neurons"].shape == (found["k"],) and set(found["neurons"]) <= set(live_L)
    # Check the kept set independently: ablating every other neuron keeps the accuracy found.
    others = np.setdiff1d(np.arange(PLANTED_CFG.width), found["neurons"])
    assert ablate(params, PLANTED_SPEC, x=x, y=y, neurons=others, mode="mean")["accuracy"] == pytest.approx(
        found["accuracy"], abs=1e-6)
    curve = found["curve"].set_index("k")
    assert curve.loc[PLANTED_CFG.width, "accuracy"] == pytest.approx(found["plain_accuracy"])
    assert curve.loc[found["k"] - 1, "accuracy"] < target  # k - 1 was evaluated and falls short
    assert curve.index.is_monotonic_increasing and len(curve) < PLANTED_CFG.width  # a search, not a sweep

    # A given ranking with the live neurons first (worst first, so more of them are needed): the set is live.
    worst_first = np.concatenate([live_L[::-1], np.setdiff1d(np.arange(PLANTED_CFG.width), live_L)])
    given = smallest_sufficient_set(params, PLANTED_SPEC, x=x, y=y, ranking=worst_first, keep=keep, batch=4)
    assert given["k"] <= len(live_L) and set(given["neurons"]) <= set(live_L) and given["accuracy"] >= target
    assert given["curve"].set_index("k").loc[given["k"] - 1, "accuracy"] < target
    with pytest.raises(LabError, match="ranking must list every one"):
        smallest_sufficient_set(params, PLANTED_SPEC, x=x, y=y, ranking=live_L)


def test_top_ranked_ablation_hurts_more_than_random(planted):
    params, _, x, y = planted
    ranking = np.argsort(-patching_effects(params, PLANTED_SPEC, x=x, y=y))
    sizes = [0, 2, 6, 12]
    table = ablation_curve(params, PLANTED_SPEC, x=x, y=y, ranking=ranking, sizes=sizes, n_random=10)
    assert list(table["k"]) == sizes
    top = table.set_index("k")
    for k in sizes[1:]:
        assert top.loc[k, "accuracy"] <= top.loc[k, "random_accuracy_mean"]
        assert top.loc[k, "loss"] >= top.loc[k, "random_loss_mean"]
        assert top.loc[k, "random_accuracy_p05"] <= top.loc[k, "random_accuracy_mean"] <= top.loc[
            k, "random_accuracy_p95"]
    assert top.loc[12, "accuracy"] < top.loc[0, "accuracy"] - 0.2  # the top 12 carry the model
    assert top.loc[0, "random_accuracy_p05"] == top.loc[0, "accuracy"]  # k = 0 is the plain model for both
    draws = random_ablation_baseline(params, PLANTED_SPEC, x=x, y=y, n_neurons=6, n_draws=10, key=jax.random.key(0),
                                     mode="mean")  # the batched random draws are the baseline's own sets
    assert top.loc[6, "random_accuracy_mean"] == pytest.approx(draws["accuracy"].mean())
    assert top.loc[6, "random_loss_mean"] == pytest.approx(draws["loss"].mean(), rel=1e-5)
    single = ablate(params, PLANTED_SPEC, x=x, y=y, neurons=ranking[:6], mode="mean")
    assert top.loc[6, "accuracy"] == pytest.approx(single["accuracy"]) and top.loc[6, "loss"] == pytest.approx(
        single["loss"], rel=1e-5)


def test_neurons_of_any_hidden_layer_can_be_ablated_and_ranked(deep):
    from lab.analysis.ablation import ablation_spec
    from lab.analysis.attribution import smallest_sets_per_layer

    params, x, y = deep
    cfg = DEEP.model
    plain = np.asarray(models.apply(params, x, cfg, TASK))
    nothing = ablation_spec(cfg, None, layer=0)
    np.testing.assert_array_equal(np.asarray(models.apply(params, x, cfg, TASK, nothing)), plain)
    # zeroing first-layer neurons = cutting their rows of the next layer's weights
    cut = [1, 5, 7]
    cut_params = {**params, "W_hidden_1": params["W_hidden_1"].copy()}
    cut_params["W_hidden_1"][cut] = 0.0
    zeroed = models.apply(params, x, cfg, TASK, ablation_spec(cfg, cut, layer=0))
    np.testing.assert_allclose(np.asarray(zeroed), np.asarray(models.apply(cut_params, x, cfg, TASK)), atol=1e-5)
    assert not np.allclose(np.asarray(zeroed), plain)
    effects = patching_effects(params, Spec(model=cfg, task=TASK), x=x, y=y, layer=0, batch=7)
    plain_loss = ablate(params, Spec(model=cfg, task=TASK), x=x, y=y)["loss"]
    for n in (0, 3, 11):
        one = ablate(params, Spec(model=cfg, task=TASK), x=x, y=y, neurons=[n], mode="mean", layer=0)["loss"] - plain_loss
        assert effects[n] == pytest.approx(one, abs=1e-5)
    assert not np.allclose(effects, patching_effects(params, Spec(model=cfg, task=TASK), x=x, y=y))  # the last layer differs
    table = smallest_sets_per_layer(params, Spec(model=cfg, task=TASK), x=x, y=y)
    assert table.layer.tolist() == [0, 1] and (table.k > 0).all() and (table.fraction <= 1).all()
    assert (table.accuracy >= 0.9 * table.plain_accuracy - 1e-9).all()
    with pytest.raises(LabError, match="out of range"):
        ablation_spec(cfg, [0], layer=2)
    with pytest.raises(LabError, match="only the last block's neurons"):
        ablation_spec(dataclasses.replace(TRANSFORMER, n_layers=2), [0], layer=0)
