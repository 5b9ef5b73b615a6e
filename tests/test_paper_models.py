"""The model variants of the papers' own settings, each against a small plain-JAX rewrite of the peer's
forward pass (every position computed, no table or last-position shortcuts): Grokfast's block, openai/grok's
post-LN transformer with sinusoidal positions and its two-token answer loss, Prieto et al.'s one-hot
bias-free MLP, and the TransformerLens demo's frozen-bias (bias-free) transformer."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models, tasks
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.sweeps.spec import load_spec
from lab.train.step import answer_loss

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
    spec = load_spec(path)
    task = dataclasses.replace(spec.task, p=11, vocab=spec.task.vocab and 30)
    return dataclasses.replace(spec, task=task, model=dataclasses.replace(spec.model, **{**SMALL, **model}))


def _tokens(spec: Spec, n: int = 9) -> tuple[jax.Array, jax.Array]:
    ab, y = tasks.all_pairs(spec.task)
    return tasks.token_sequences(spec.task, jnp.asarray(ab[:n]), jnp.asarray(y[:n])), jnp.asarray(y[:n])


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


def test_grokfast_data_excludes_y_zero():
    spec = load_spec("sweeps/grokfast.toml")
    ab, _ = tasks.all_pairs(spec.task)
    assert len(ab) == 97 * 96 == spec.task.n_examples() and ab[:, 1].min() == 1  # main.py L73-87


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


def _names(params) -> list[str]:
    return [str(path[-1].key) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]


def test_stablemax_mlp_is_the_one_hot_bias_free_mlp():
    spec = load_spec("sweeps/stablemax.toml")
    spec = dataclasses.replace(spec, task=dataclasses.replace(spec.task, p=13))
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


@pytest.mark.parametrize("sequence,n_ctx", [("a_b_eq", 3), ("a_op_b_eq", 4), ("eos_a_op_b_eq_c", 6)])
def test_token_sequences(sequence, n_ctx):
    task = TaskConfig(p=7, sequence=sequence)
    ab, y = tasks.all_pairs(task)
    x = np.asarray(tasks.token_sequences(task, jnp.asarray(ab), jnp.asarray(y)))
    assert x.shape == (49, n_ctx) == (task.n_examples(), task.n_ctx) and x.max() < task.n_vocab
    if sequence == "eos_a_op_b_eq_c":
        assert list(x[10]) == [9, ab[10, 0], 8, ab[10, 1], 7, y[10]]
    Spec(task=task, model=ModelConfig(readout="vocab"), train=TrainConfig()).validate()
