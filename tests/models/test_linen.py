"""lab.models.linen: the papers' shapes, the readable names, and each model and paper variant against a small plain-
JAX rewrite of the peer's forward pass."""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models, tasks
from lab.models import attention_layouts, linen
from lab.config import ModelConfig, Spec, TaskConfig
from lab.sweeps import expand, load_spec
from lab.train.step import answer_loss
from tests.helpers import SWEEPS, first_models, multiplied

NANDA = ModelConfig()  # defaults are Nanda et al.'s one-layer transformer
P113 = TaskConfig(p=113)


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


SMALL = {"d_model": 16, "n_heads": 2, "d_head": 8, "d_mlp": 32}


@pytest.fixture(autouse=True)
def _numpy_broadcasting():
    """The plain references broadcast as numpy does (the lab's own code runs under rank promotion 'raise')."""
    with jax.numpy_rank_promotion("allow"):
        yield


def _ln(x, p, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + eps) * p["scale"] + p["bias"]


def _mha(x_LxD, p, bias: bool):
    """Causal multi-head attention over one sequence, as torch's MultiheadAttention computes it."""
    q = jnp.einsum("ld,hde->hle", x_LxD, p["W_Q"])
    k = jnp.einsum("ld,hde->hle", x_LxD, p["W_K"])
    v = jnp.einsum("ld,hde->hle", x_LxD, p["W_V"])
    if bias:
        q, k, v = q + p["b_Q"][:, None], k + p["b_K"][:, None], v + p["b_V"][:, None]
    n = x_LxD.shape[0]
    scores = jnp.einsum("hqe,hke->hqk", q, k) / np.sqrt(q.shape[-1])
    scores = jnp.where(np.tril(np.ones((n, n), bool))[None], scores, -1e10)
    out = jnp.einsum("hqk,hke->hqe", jax.nn.softmax(scores, -1), v)
    out = jnp.einsum("hqe,hed->qd", out, p["W_O"])
    return out + p["b_O"] if bias else out


def _mlp(x, p, act, bias: bool):
    h = act(x @ p["W_in"] + (p["b_in"] if bias else 0))
    return h @ p["W_out"] + (p["b_out"] if bias else 0)


def _spec(path: str, **model) -> Spec:
    """The spec's architecture at a small size, drawing its own weights (a peer's start fits only the full size)."""
    spec = load_spec(path)
    task = dataclasses.replace(spec.task, p=11, vocab=spec.task.vocab and 30, split_from="")
    return dataclasses.replace(spec, task=task,
                               model=dataclasses.replace(spec.model, **{**SMALL, "init_from": "", **model}))


def _tokens(spec: Spec, n: int = 9) -> tuple[jax.Array, jax.Array]:
    ab, y = tasks.all_pairs(spec.task)
    return tasks.token_sequences(spec.task, jnp.asarray(ab[:n]), jnp.asarray(y[:n])), jnp.asarray(y[:n])


def _names(params) -> list[str]:
    return [str(path[-1].key) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]


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


def test_multitask_inputs_one_hot_columns_read_as_a_gather_equal_the_product_and_its_gradients():
    cfg = ModelConfig(kind="mlp", width=12, bias=True)
    task = TaskConfig(name="multitask_parity", n_bits=10, k=3, n_tasks=6, n_train=64, n_test=60)  # 16 inputs
    data = tasks.make_data(task, jax.random.key(1), 1.0, 64, False)
    x_BxI = jnp.concatenate([data.x_train[:40], jnp.zeros((1, 16)), 2.5 * data.x_train[40:41]])  # a zero row, a 2.5
    params = models.init(jax.random.key(0), cfg, task)
    y_B = jnp.concatenate([data.y_train[:40], jnp.zeros(1, jnp.int32), data.y_train[40:41]])

    def plain(p, x):  # the MLP as one product over every input column
        return jax.nn.relu(x @ p["W_in"] + p["b_in"]) @ p["W_out"] + p["b_out"]

    def loss(apply_fn, p, x):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(apply_fn(p, x)), y_B[:, None], axis=1))

    lab_apply = lambda p, x: models.apply(p, x, cfg, task)  # noqa: E731
    np.testing.assert_allclose(lab_apply(params, x_BxI), plain(params, x_BxI), rtol=1e-5, atol=1e-6)
    for argnums in (0, 1):  # params, and the input (no analysis needs it today, but it is the product's)
        got = jax.grad(partial(loss, lab_apply), argnums)(params, x_BxI)
        want = jax.grad(partial(loss, plain), argnums)(params, x_BxI)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), got, want)

    # W_in is [16, 12]: only its 10 bit rows multiply, and W_out [12, 2]
    assert multiplied(jax.make_jaxpr(lab_apply)(params, x_BxI).jaxpr, 1) == {(10, 12), (12, 2)}


def test_init_scale_multiplies_every_parameter():
    cfg, task = ModelConfig(kind="mlp", d_embed=8, width=5), TaskConfig(p=13)
    base = models.init(jax.random.key(0), cfg, task)
    scaled = models.init(jax.random.key(0), cfg, task, init_scale=jnp.float32(3.0))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(3 * a, b, rtol=1e-6), base, scaled)


def test_circle_unit_columns_and_its_tied_readout():
    spec = load_spec(SWEEPS / "pair_circle.toml")
    table = np.asarray(models.fixed_embedding(spec.model, spec.task))
    np.testing.assert_allclose(np.linalg.norm(table, axis=0), 1.0, rtol=1e-6)  # gen_fixed_embed's columns
    np.testing.assert_allclose(table[:, 0] * np.sqrt(67 / 2), np.cos(2 * np.pi * np.arange(67) / 67), atol=1e-6)
    params = models.init(jax.random.key(0), spec.model, spec.task)
    x = jnp.array([[3, 5], [10, 60]])
    relu = jax.nn.relu(table[np.asarray(x[:, 0])] @ params["W_in"] + table[np.asarray(x[:, 1])] @ params["W_in"])
    np.testing.assert_allclose(models.apply(params, x, spec.model, spec.task), relu @ params["W_out"] @ table.T,
                               rtol=1e-5, atol=1e-6)


def test_parity_model_is_the_pages():
    spec = load_spec(SWEEPS / "pair_parity.toml")
    assert sum(g.size for g in expand(spec)) == 1125 and len(expand(spec)) == 25
    (state, data, m), = first_models(spec, 1)
    x = np.asarray(data.x_train)
    assert set(np.unique(x)) == {0.0, 1.0}  # 1s and 0s
    np.testing.assert_array_equal(np.asarray(data.y_train), x[:, :3].sum(1) % 2)
    w_in = state.params["W_in"]
    assert w_in.shape == (31, spec.model.width) and "b_in" not in state.params  # bias = a constant-1 input row
    assert state.params["W_out"].shape == (spec.model.width, 1)  # one output column
    logits = models.apply(state.params, data.x_test, spec.model, spec.task)
    h = jax.nn.relu(jnp.concatenate([data.x_test, jnp.ones((len(x := data.x_test), 1))], 1) @ w_in)
    np.testing.assert_allclose(logits, h @ state.params["W_out"], rtol=1e-5, atol=1e-6)


def test_grokfast_block_is_main_py():
    spec = _spec("sweeps/grokfast.toml")
    params = models.init(jax.random.key(0), spec.model, spec.task)
    x, _ = _tokens(spec)

    def reference(tokens_L):  # main.py L38-42 and L62-69: u = ln_1(x); x = u + attn(u); x = x + mlp(ln_2(x))
        h = params["W_E"][tokens_L] + params["W_pos"][: tokens_L.shape[0]]
        for layer in range(2):
            u = _ln(h, params[f"block_{layer}_ln_attn"], 1e-5)
            h = u + _mha(u, params[f"block_{layer}_attn"], bias=True)
            h = h + _mlp(_ln(h, params[f"block_{layer}_ln_mlp"], 1e-5), params[f"block_{layer}_mlp"],
                         lambda z: jax.nn.gelu(z, approximate=False), bias=True)
        return (_ln(h, params["ln_final"], 1e-5) @ params["W_U"])[-1]  # logits[-1]: the "=" position

    expected = jax.vmap(reference)(x)
    assert expected.shape == (9, spec.task.p + 2)  # the head reads every token (99 for p = 97)
    np.testing.assert_allclose(models.apply(params, x, spec.model, spec.task), expected, rtol=2e-5, atol=2e-5)
    assert x.shape[1] == 4 and int(x[0, 1]) == spec.task.p + 1 and int(x[0, 3]) == spec.task.p  # [x, op, y, =]


def test_grok_post_ln_transformer_and_its_answer_loss():
    spec = _spec("sweeps/power_grok.toml")
    params = models.init(jax.random.key(1), spec.model, spec.task)
    x, y = _tokens(spec)
    d = SMALL["d_model"]
    # transformer.py L324-339, literally: sin(pos / 10000^(i / d)) for even i, cos(pos / 10000^((i - 1) / d)) for odd
    pe = np.array([[np.sin(pos / 10000 ** (i / d)) if i % 2 == 0 else np.cos(pos / 10000 ** ((i - 1) / d))
                    for i in range(d)] for pos in range(6)])

    def reference(tokens_L):  # post-LN blocks: x = LN(x + attn(x)); x = LN(x + ff(x)); no biases, no final LN
        h = params["W_E"][tokens_L] + pe
        for layer in range(2):
            h = _ln(h + _mha(h, params[f"block_{layer}_attn"], bias=False), params[f"block_{layer}_ln_attn"], 1e-5)
            h = _ln(h + _mlp(h, params[f"block_{layer}_mlp"], jax.nn.relu, bias=False), params[f"block_{layer}_ln_mlp"],
                    1e-5)
        return h @ params["W_U"]  # [6, vocab]

    logits_BxLxV = jax.vmap(reference)(x)
    target_Bx2 = jnp.stack([y, jnp.full_like(y, tasks.eos_token(spec.task))], 1)  # c and the trailing <eos>
    logp = jax.nn.log_softmax(logits_BxLxV[:, 4:6], -1)
    expected_loss = -jnp.take_along_axis(logp, target_Bx2[..., None], -1)[..., 0].mean(1)
    expected_acc = jnp.all(jnp.argmax(logits_BxLxV[:, 4:6], -1) == target_Bx2, axis=1)
    loss_B, acc_B, answer_BxV = answer_loss(spec, params, x, y)
    np.testing.assert_allclose(loss_B, expected_loss, rtol=2e-5, atol=2e-5)
    np.testing.assert_array_equal(acc_B, expected_acc.astype(np.float32))
    np.testing.assert_allclose(answer_BxV, logits_BxLxV[:, 4], rtol=2e-5, atol=2e-5)
    assert answer_BxV.shape[-1] == 30 and not any("b_" in k for k in _names(params))  # the whole vocab, no biases


def test_stablemax_mlp_is_the_one_hot_bias_free_mlp():
    spec = load_spec("sweeps/stablemax.toml")
    spec = dataclasses.replace(spec, task=dataclasses.replace(spec.task, p=13),
                               model=dataclasses.replace(spec.model, init_from=""))  # the paper's start is p = 113's
    params = models.init(jax.random.key(2), spec.model, spec.task)
    ab, _ = tasks.all_pairs(spec.task)
    onehot = jnp.concatenate([jax.nn.one_hot(ab[:, 0], 13), jax.nn.one_hot(ab[:, 1], 13)], 1)  # 2p inputs
    h = jax.nn.relu(onehot @ params["W_in"])
    expected = jax.nn.relu(h @ params["W_hidden_1"]) @ params["W_out"]  # models.py L16-25, bias=False
    np.testing.assert_allclose(models.apply(params, jnp.asarray(ab), spec.model, spec.task), expected, rtol=1e-5,
                               atol=1e-6)
    assert sorted(_names(params)) == ["W_hidden_1", "W_in", "W_out"]
    bound = 1 / np.sqrt(26)  # torch's nn.Linear: U(+-1/sqrt(fan_in)), fan_in 2p
    assert np.abs(params["W_in"]).max() <= bound and np.abs(params["W_in"]).max() > 0.9 * bound


def test_transformerlens_demo_variant_is_a_bias_free_transformer_with_its_init():
    spec = load_spec("sweeps/nanda_settings.toml").replace_all({"variant": "demo"})
    params = models.init(jax.random.key(3), spec.model, spec.task)
    assert not any(k.startswith("b_") for k in _names(params))  # the demo's b_* are frozen at 0: no biases
    for w in jax.tree.leaves(params):
        assert abs(float(jnp.std(w)) - 0.8 / np.sqrt(128)) < 0.004  # normal(0, 0.8 / sqrt(d_model)), W_E included
    small = dataclasses.replace(spec, model=dataclasses.replace(spec.model, **SMALL, init_overrides=()))
    params = models.init(jax.random.key(3), small.model, small.task)
    x, _ = _tokens(small)

    def reference(tokens_L):  # HookedTransformer without LayerNorm: resid + attn, resid + mlp, unembed
        h = params["W_E"][tokens_L] + params["W_pos"]
        h = h + _mha(h, params["block_0_attn"], bias=False)
        h = h + _mlp(h, params["block_0_mlp"], jax.nn.relu, bias=False)
        return (h @ params["W_U"])[-1]

    np.testing.assert_allclose(models.apply(params, x, small.model, small.task), jax.vmap(reference)(x),
                               rtol=2e-5, atol=2e-5)


def test_nanda_repo_variant_reads_all_114_logits():
    spec = load_spec("sweeps/nanda_settings.toml").replace_all({"variant": "repo"})
    params = models.init(jax.random.key(4), spec.model, spec.task)
    assert params["W_U"].shape == (128, 114) and "b_in" in params["block_0_mlp"]  # transformers.py: W_U (128, 114)


@pytest.mark.parametrize("path", ["sweeps/grokfast.toml", "sweeps/power_grok.toml", "sweeps/nanda_p113.toml"])
def test_score_table_and_per_example_scores_agree(path, monkeypatch):
    """The first block's scores from the (query row, key row) table equal the per-example products, forward and
    backward (biases, two answers, LayerNorms, later blocks included)."""
    spec = _spec(path)
    params = models.init(jax.random.key(3), spec.model, spec.task)
    x, _ = _tokens(spec, n=40)

    def run(ratio):
        monkeypatch.setattr(attention_layouts, "SCORE_TABLE_RATIO", ratio)
        logits = models.apply(params, x, spec.model, spec.task)
        return logits, jax.grad(lambda p: jnp.sum(jnp.sin(models.apply(p, x, spec.model, spec.task))))(params)

    (logits_table, grads_table), (logits_rows, grads_rows) = run(10**9), run(0)
    np.testing.assert_allclose(logits_table, logits_rows, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), grads_table, grads_rows)
