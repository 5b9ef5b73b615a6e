"""lab.train.grad_transforms: Grokfast's filters and the orthogonal gradient against their recurrences."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from lab.sweeps import expand
from lab.train import build_programs
from lab.train.grad_transforms import grokfast_ema, grokfast_ma, orthogonal_gradient


def _grads(n_steps: int, seed: int = 0):
    keys = jax.random.split(jax.random.key(seed), n_steps)
    return [{"a": jax.random.normal(k, (3, 4)), "b": jax.random.normal(jax.random.fold_in(k, 1), (5,))} for k in keys]


def _run(transform, grads, params=None):
    state = transform.init(grads[0])
    out = []
    for g in grads:
        u, state = transform.update(g, state, params)
        out.append(u)
    return out


@pytest.mark.parametrize("transform", [grokfast_ema(0.9, 0.0), grokfast_ma(3, 0.0)], ids=["ema", "ma"])
def test_grokfast_with_lambda_zero_is_the_identity(transform):
    grads = _grads(6)
    for g, u in zip(grads, _run(transform, grads)):
        jax.tree.map(np.testing.assert_array_equal, g, u)


def test_grokfast_filters_match_the_reference_recurrences():
    grads = _grads(7)
    alpha, lamb, window = 0.9, 2.0, 3
    ema, ema_out, ma_out = None, [], []
    for t, g in enumerate(grads):
        g = np.asarray(g["a"])
        ema = g if ema is None else alpha * ema + (1 - alpha) * g
        ema_out.append(g + lamb * ema)
        past = [np.asarray(h["a"]) for h in grads[max(0, t - window + 1) : t + 1]]
        ma_out.append(g + lamb * np.mean(past, axis=0) if len(past) == window else g)
    for ours, ref in zip(_run(grokfast_ema(alpha, lamb), grads), ema_out):
        np.testing.assert_allclose(ours["a"], ref, rtol=1e-5, atol=1e-6)
    for ours, ref in zip(_run(grokfast_ma(window, lamb), grads), ma_out):
        np.testing.assert_allclose(ours["a"], ref, rtol=1e-5, atol=1e-6)


def test_orthogonal_update_is_orthogonal_to_the_weights_and_keeps_the_norm():
    params = _grads(1, seed=1)[0]
    (update,) = _run(orthogonal_gradient(), _grads(1), params)
    (grad,) = _grads(1)
    for name in params:
        u, w, g = (np.asarray(t[name], np.float64).ravel() for t in (update, params, grad))
        assert abs(u @ w) < 1e-5 * np.linalg.norm(u) * np.linalg.norm(w)
        assert abs(g @ w) > 1e-2 * np.linalg.norm(g) * np.linalg.norm(w)  # the gradient itself was not
        np.testing.assert_allclose(np.linalg.norm(u), np.linalg.norm(g), rtol=1e-5)
    # With plain SGD after it, the step changes no weight along its own direction.
    sgd = optax.chain(orthogonal_gradient(), optax.sgd(0.1))
    (step,) = _run(sgd, _grads(1), params)
    assert abs(np.vdot(step["a"], params["a"])) < 1e-6


def test_per_model_grokfast_lambda_zero_trains_like_no_filter(spec_factory):
    plain = spec_factory(seeds=1)
    filtered = spec_factory(seeds=1, axes=[("train.grokfast_lambda", (0.0, 5.0))], grad_filter="grokfast_ema")
    (g_plain,), (g_filt,) = expand(plain), expand(filtered)

    def final_params(group):
        programs = build_programs(group.spec, group.n_train_max())
        hp = group.hparams()
        state, data = programs.init(hp), programs.data(hp)
        for _ in range(3):
            state, _ = programs.chunk(state, data, hp)
        return jax.device_get(state.params)

    ref, both = final_params(g_plain), final_params(g_filt)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6), ref, both)
    assert not np.allclose(both["W_in"][0], both["W_in"][1])  # lambda 5 really changed the other model
