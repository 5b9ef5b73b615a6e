"""lab.analysis.masks: batched mask scores equal edited readouts mask by mask; batching, random orders, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models
from lab.analysis import masks
from lab.analysis.ablation import ablation_spec
from lab.analysis.activations import complete_dataset
from lab.analysis.masks import (
    first_k_masks,
    labels_of,
    n_neurons_of,
    neuron_site_of,
    random_permutations,
    scores_under_masks,
)
from lab.config import ModelConfig
from lab.errors import LabError
from tests.helpers import tiny_spec

TINY = tiny_spec()  # MLP, width 16, x+y mod 11
MLP, TASK, P, F = TINY.model, TINY.task, TINY.task.p, TINY.model.width
apply = jax.jit(models.apply, static_argnums=(2, 3))


@pytest.fixture(scope="module")
def model():
    """Hand-drawn random params of the tiny MLP (nonzero output bias) with every (a, b) pair and its label."""
    rng = np.random.default_rng(0)
    shapes = {"W_E": (P, 8), "W_in": (16, F), "b_in": (F,), "W_out": (F, P), "b_out": (P,)}
    params = {name: rng.normal(0.0, 0.5, shape).astype(np.float32) for name, shape in shapes.items()}
    x_Nx2, y_N = complete_dataset(TINY)
    return params, x_Nx2, np.asarray(y_N)


def _mixed_masks(m: int) -> np.ndarray:
    """m random neuron masks [m, F], the first ablating nothing and the second everything."""
    ablated_MxF = np.random.default_rng(0).random((m, F)) < 0.4
    ablated_MxF[0], ablated_MxF[1] = False, True
    return ablated_MxF


def _edited_scores(params, x_Nx2, y_N, ablated_F, value_F) -> tuple[float, float]:
    """Loss and accuracy with the masked neurons set to value_F by editing the readout (no hooks, no vmap):
    the neuron's row of W_out is dropped and its constant contribution value @ W_out folded into b_out."""
    w_out_FxC = params["W_out"]
    edited = dict(params, W_out=np.where(ablated_F[:, None], 0.0, w_out_FxC).astype(np.float32),
                  b_out=(params["b_out"] + (value_F * ablated_F) @ w_out_FxC).astype(np.float32))
    logits_NxC = np.asarray(apply(edited, x_Nx2, MLP, TASK), np.float64)
    log_z_N = np.log(np.exp(logits_NxC - logits_NxC.max(1, keepdims=True)).sum(1)) + logits_NxC.max(1)
    loss_N = log_z_N - logits_NxC[np.arange(len(y_N)), y_N]
    return float(loss_N.mean()), float((logits_NxC.argmax(1) == y_N).mean())


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_batched_mask_scores_equal_editing_the_readout_one_mask_at_a_time(model, mode):
    params, x_Nx2, y_N = model
    value_F = np.linspace(-0.5, 1.5, F).astype(np.float32) if mode == "mean" else np.zeros(F, np.float32)
    spec = ablation_spec(MLP, mode=mode, mean_acts=value_F if mode == "mean" else None)
    ablated_MxF = _mixed_masks(7)
    loss_M, acc_M = scores_under_masks(params, MLP, TASK, x_Nx2, y_N, ablated_MxF, spec, chunk=50, batch=2)
    assert loss_M.shape == acc_M.shape == (7,) and loss_M.dtype == acc_M.dtype == np.float64
    for m in range(7):
        loss, acc = _edited_scores(params, x_Nx2, y_N, ablated_MxF[m], value_F)
        assert loss_M[m] == pytest.approx(loss, rel=1e-5) and acc_M[m] == pytest.approx(acc, abs=1e-9)
    # Everything ablated: the logits are one constant row, so exactly the p labels of its argmax class are right.
    constant_C = params["b_out"] + value_F @ params["W_out"]
    assert acc_M[1] == pytest.approx(np.mean(y_N == np.argmax(constant_C)), abs=1e-12)
    assert acc_M[1] == pytest.approx(1 / P) and loss_M[1] >= np.log(P) - 1e-6  # constant q vs uniform labels (Gibbs)


def test_scores_do_not_depend_on_batch_or_chunk_sizes(model):
    params, x_Nx2, y_N = model
    spec = ablation_spec(MLP)
    ablated_MxF = _mixed_masks(5)
    reference = scores_under_masks(params, MLP, TASK, x_Nx2, y_N, ablated_MxF, spec, batch=1, chunk=P * P)
    for batch, chunk in [(2, 50), (5, 7), (100, 121), (None, 4096)]:  # a padded last stack, padded last chunks
        loss_M, acc_M = scores_under_masks(params, MLP, TASK, x_Nx2, y_N, ablated_MxF, spec, chunk=chunk, batch=batch)
        np.testing.assert_allclose(loss_M, reference[0], rtol=1e-6)
        np.testing.assert_array_equal(acc_M, reference[1])
    # A row's score is its own: reordering the masks reorders the scores.
    order = np.array([3, 0, 4, 2, 1])
    loss_M, acc_M = scores_under_masks(params, MLP, TASK, x_Nx2, y_N, ablated_MxF[order], spec, batch=2, chunk=50)
    np.testing.assert_allclose(loss_M, reference[0][order], rtol=1e-6)
    np.testing.assert_array_equal(acc_M, reference[1][order])


def test_the_default_batch_keeps_each_call_under_the_memory_budget(model, monkeypatch):
    params, x_Nx2, y_N = model
    ablated_MxF = _mixed_masks(6)
    budget = 2 * 40 * (F + P) + 1  # two masks of a 40-row chunk fit, three do not
    monkeypatch.setattr(masks, "MEMORY_FLOATS", budget)
    stacks = []
    real = masks._masked_chunk_jit

    def spy(params, x, y_B, ablated_KxF, *rest):
        stacks.append((ablated_KxF.shape[0], x.shape[0]))
        return real(params, x, y_B, ablated_KxF, *rest)

    monkeypatch.setattr(masks, "_masked_chunk_jit", spy)
    loss_M, _ = scores_under_masks(params, MLP, TASK, x_Nx2, y_N, ablated_MxF, ablation_spec(MLP), chunk=40)
    assert {k for k, _ in stacks} == {2} and {rows for _, rows in stacks} == {40}
    assert len(stacks) == 3 * 4  # 3 stacks of 2 masks, each over ceil(121 / 40) = 4 chunks
    monkeypatch.undo()
    np.testing.assert_allclose(loss_M, scores_under_masks(params, MLP, TASK, x_Nx2, y_N, ablated_MxF,
                                                          ablation_spec(MLP), batch=1, chunk=P * P)[0], rtol=1e-6)


def test_bad_labels_and_batch_sizes_raise_clear_errors(model):
    params, x_Nx2, y_N = model
    spec, ablated_1xF = ablation_spec(MLP), np.zeros((1, F), bool)
    with pytest.raises(LabError, match=r"y must be labels \[N\] for the N = 121 rows of x \(got shape \(120,\)\)"):
        scores_under_masks(params, MLP, TASK, x_Nx2, y_N[:120], ablated_1xF, spec)
    with pytest.raises(LabError, match=r"got shape \(121, 1\)"):
        labels_of(x_Nx2, y_N[:, None])
    with pytest.raises(LabError, match=r"batch must be at least 1 \(got 0\)"):
        scores_under_masks(params, MLP, TASK, x_Nx2, y_N, ablated_1xF, spec, batch=0)
    y_int_N = labels_of(x_Nx2, y_N.astype(np.int64))
    assert y_int_N.dtype == jnp.int32 and y_int_N.tolist() == y_N.tolist()


def test_no_masks_give_empty_scores(model):
    params, x_Nx2, y_N = model
    loss_M, acc_M = scores_under_masks(params, MLP, TASK, x_Nx2, y_N, np.zeros((0, F), bool), ablation_spec(MLP))
    assert loss_M.shape == acc_M.shape == (0,)


def test_random_orders_are_permutations_and_first_k_masks_take_their_first_k():
    perms_DxF = random_permutations(jax.random.key(3), 9, F)
    assert perms_DxF.shape == (9, F)
    assert (np.sort(perms_DxF, axis=1) == np.arange(F)).all()
    assert len({tuple(row) for row in perms_DxF.tolist()}) == 9  # 16! orders: nine draws do not repeat
    np.testing.assert_array_equal(perms_DxF, random_permutations(jax.random.key(3), 9, F))
    assert random_permutations(jax.random.key(3), 0, F).shape == (0, F)
    for k in (0, 1, 5, F):
        mask_DxF = first_k_masks(perms_DxF, k)
        assert mask_DxF.dtype == bool and (mask_DxF.sum(axis=1) == k).all()
        for d in range(9):
            assert set(np.flatnonzero(mask_DxF[d]).tolist()) == set(perms_DxF[d, :k].tolist())
    # Nested: each order's first k neurons are among its first k + 1.
    assert (first_k_masks(perms_DxF, 4) <= first_k_masks(perms_DxF, 5)).all()


def test_neuron_counts_and_sites_follow_the_model_kind():
    assert n_neurons_of(MLP) == 16
    transformer = ModelConfig(d_model=32, n_heads=2, d_head=16, d_mlp=48, width=7)
    assert n_neurons_of(transformer) == 48
    assert neuron_site_of(ablation_spec(MLP)) == "mlp_post_0"
    hooks = ablation_spec(transformer)
    assert set(hooks) == {"block_0_mlp/mlp_post", "block_0_attn/z"}
    assert neuron_site_of(hooks) == "block_0_mlp/mlp_post"
    deep = ModelConfig(kind="mlp", d_embed=8, width=16, depth=3)
    assert neuron_site_of(ablation_spec(deep, layer=1)) == "mlp_post_1"
    assert neuron_site_of({"embed_a": None, "mlp_pre_2": None, "mlp_post_2": None}) == "mlp_post_2"
