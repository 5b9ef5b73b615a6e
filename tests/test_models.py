"""Tests of lab.models: the paper's shapes, the readable names, and the math of each model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models
from lab.config import ModelConfig, TaskConfig

NANDA = ModelConfig()  # defaults are Nanda et al.'s one-layer transformer
P113 = TaskConfig(p=113)


def test_nanda_transformer_has_the_papers_shapes():
    params = models.init(jax.random.key(0), NANDA, P113)
    shapes = jax.tree.map(lambda w: w.shape, params)
    assert shapes == {
        "W_E": (114, 128),  # vocab p + 1 (the '=' token) x d_model
        "W_pos": (3, 128),  # [a, b, =]
        "block_0_attn": {"W_Q": (4, 128, 32), "W_K": (4, 128, 32), "W_V": (4, 128, 32), "W_O": (4, 32, 128)},
        "block_0_mlp": {"W_in": (128, 512), "b_in": (512,), "W_out": (512, 128), "b_out": (128,)},
        "W_U": (128, 113),  # logits over the p answers only
    }
    assert models.param_count(params) == 226_688


def _layer_norm(x, p):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-6) * p["scale"][None, None] + p["bias"][None, None]


def _reference_transformer(params, tokens_BxL, n_layers=1, layer_norm=False):
    """Plain all-positions transformer, logits at the last position (as a PyTorch user writes it)."""
    ln = _layer_norm if layer_norm else (lambda x, p: x)
    resid = params["W_E"][tokens_BxL] + params["W_pos"][None]
    n = tokens_BxL.shape[1]
    for layer in range(n_layers):
        attn, mlp = params[f"block_{layer}_attn"], params[f"block_{layer}_mlp"]
        h = ln(resid, params.get(f"block_{layer}_ln_attn"))
        q = jnp.einsum("bld,hde->bhle", h, attn["W_Q"])
        k = jnp.einsum("bld,hde->bhle", h, attn["W_K"])
        v = jnp.einsum("bld,hde->bhle", h, attn["W_V"])
        scores = jnp.einsum("bhqe,bhke->bhqk", q, k) / jnp.sqrt(q.shape[-1])
        scores = jnp.where(jnp.tril(jnp.ones((1, 1, n, n), bool)), scores, -jnp.inf)
        z = jnp.einsum("bhqk,bhke->bhqe", jax.nn.softmax(scores, -1), v)
        resid = resid + jnp.einsum("bhqe,hed->bqd", z, attn["W_O"])
        h = ln(resid, params.get(f"block_{layer}_ln_mlp"))
        resid = resid + jax.nn.relu(h @ mlp["W_in"] + mlp["b_in"][None, None]) @ mlp["W_out"] + mlp["b_out"][None, None]
    final = resid[:, -1]
    if layer_norm:
        final = _layer_norm(final[:, None], params["ln_final"])[:, 0]
    return final @ params["W_U"]


@pytest.mark.parametrize("n_layers,layer_norm", [(1, False), (2, True)])
def test_transformer_shortcuts_match_the_full_computation(n_layers, layer_norm):
    """Last-position-only blocks and per-(token, position) first-layer tables change no number."""
    cfg = ModelConfig(n_layers=n_layers, d_model=32, n_heads=2, d_head=16, d_mlp=64, layer_norm=layer_norm)
    task = TaskConfig(p=13)
    params = models.init(jax.random.key(1), cfg, task)
    if layer_norm:  # move LayerNorm off its identity init so the test can see it
        params = jax.tree_util.tree_map_with_path(
            lambda path, w: w + 0.1 * jax.random.normal(jax.random.key(len(str(path))), w.shape)
            if "ln" in str(path) else w, params)
    ab = jax.random.randint(jax.random.key(2), (20, 2), 0, 13)
    tokens = jnp.concatenate([ab, jnp.full((20, 1), 13)], axis=1)
    np.testing.assert_allclose(models.apply(params, tokens, cfg, task),
                               _reference_transformer(params, tokens, n_layers, layer_norm), rtol=1e-4, atol=1e-4)
    grads = jax.grad(lambda p: models.apply(p, tokens, cfg, task).sum())(params)
    grads_ref = jax.grad(lambda p: _reference_transformer(p, tokens, n_layers, layer_norm).sum())(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4), grads, grads_ref)


def test_transformer_activations_are_named_and_shaped():
    cfg, task = ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64, layer_norm=True), TaskConfig(p=13)
    params = models.init(jax.random.key(1), cfg, task)
    logits, acts = models.run_with_cache(params, jnp.array([[1, 2, 13], [3, 4, 13]]), cfg, task)
    assert logits.shape == (2, 13)
    assert acts["embed"].shape == (2, 3, 32)
    assert acts["block_0_attn/attn_pattern"].shape == (2, 2, 3, 3)  # earlier blocks: every position
    assert acts["block_1_attn/attn_pattern"].shape == (2, 2, 1, 3)  # the last block: last position only
    assert acts["block_0_mlp/mlp_post"].shape == (2, 3, 64)
    assert acts["block_1_mlp/mlp_pre"].shape == (2, 1, 64)
    np.testing.assert_allclose(acts["block_0_attn/attn_pattern"].sum(-1), 1.0, rtol=1e-6)
    assert float(acts["block_0_attn/attn_pattern"][0, 0, 0, 1]) == 0.0  # causal: position 0 sees only itself


def test_pair_mlp_is_tied_shared_and_biasless():
    cfg = ModelConfig(kind="mlp", d_embed=500, combine="sum", width=24, bias=False, tie_embed=True)
    task = TaskConfig(p=67, symmetric=True)
    params = models.init(jax.random.key(0), cfg, task)
    assert jax.tree.map(lambda w: w.shape, params) == {"W_E": (67, 500), "W_in": (500, 24), "W_out": (24, 500)}
    ab = jnp.array([[3, 5], [5, 3], [0, 66]])
    logits = models.apply(params, ab, cfg, task)
    e = params["W_E"]
    hidden = jax.nn.relu(e[ab[:, 0]] @ params["W_in"] + e[ab[:, 1]] @ params["W_in"])
    np.testing.assert_allclose(logits, hidden @ params["W_out"] @ e.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits[0], logits[1], rtol=1e-6)  # summing a shared projection is symmetric


@pytest.mark.parametrize("embedding,d_in", [("onehot", 2 * 13), ("circle", 2 * 2), ("learned", 2 * 8)])
def test_mlp_embeddings(embedding, d_in):
    cfg, task = ModelConfig(kind="mlp", embedding=embedding, d_embed=8, width=5, depth=2), TaskConfig(p=13)
    params = models.init(jax.random.key(0), cfg, task)
    assert params["W_in"].shape == (d_in, 5)
    assert ("W_E" in params) == (embedding == "learned")
    logits, acts = models.run_with_cache(params, jnp.array([[1, 2]]), cfg, task)
    assert logits.shape == (1, 13) and acts["mlp_post_1"].shape == (1, 5)
    if embedding == "circle":
        np.testing.assert_allclose(acts["embed_a"][0], [np.cos(2 * np.pi / 13), np.sin(2 * np.pi / 13)], rtol=1e-6)


def test_parity_mlp_reads_bit_vectors():
    cfg, task = ModelConfig(kind="mlp", width=7), TaskConfig(name="multitask_parity", n_bits=10, n_tasks=4)
    params = models.init(jax.random.key(0), cfg, task)
    assert params["W_in"].shape == (14, 7) and params["W_out"].shape == (7, 2)
    assert models.apply(params, jnp.ones((3, 14)), cfg, task).shape == (3, 2)


def test_init_scale_multiplies_every_parameter():
    cfg, task = ModelConfig(kind="mlp", d_embed=8, width=5), TaskConfig(p=13)
    base = models.init(jax.random.key(0), cfg, task)
    scaled = models.init(jax.random.key(0), cfg, task, init_scale=jnp.float32(3.0))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(3 * a, b, rtol=1e-6), base, scaled)
