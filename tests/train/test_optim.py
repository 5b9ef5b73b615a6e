"""lab.train.optim: each optimizer lowers the loss, warmup, Adam with L2 in the gradient as torch.optim.Adam, and
the PAIR notebook's L1 decay."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lab import train
from lab.config import (
    SpecError,
    TrainConfig,
)
from lab.sweeps import expand, load_spec
from lab.train import build_programs, make_optimizer
from lab.train.grad_transforms import add_l1_decay
from tests.helpers import SWEEPS


def _torch_adam(w, grads, lr_t, b1, b2, eps, wd):
    """torch.optim.Adam(weight_decay=wd) as its docs write it: g + wd w, bias-corrected moments, eps outside sqrt."""
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        g = g + wd * w
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr_t[t - 1] * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


def test_l1_decay_is_the_notebooks_l1_regularizer_before_adam():
    params = {"w": jnp.array([0.5, -2.0, 0.0]), "b": jnp.array([[1.0, -1.0]])}
    grads = {"w": jnp.array([0.1, 0.2, -0.3]), "b": jnp.array([[0.0, 0.5]])}
    got, _ = add_l1_decay(0.01).update(grads, optax.EmptyState(), params)
    np.testing.assert_allclose(got["w"], [0.1 + 0.01, 0.2 - 0.01, -0.3])
    cfg = load_spec(SWEEPS / "pair_parity.toml", ["train.decay=l1", "train.optimizer=adam"]).train
    opt = make_optimizer(cfg, weight_decay=1e-4)
    reference = optax.chain(add_l1_decay(1e-4), optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2))
    state, ref_state = opt.init(params), reference.init(params)
    for _ in range(3):
        update, state = opt.update(grads, state, params)
        ref_update, ref_state = reference.update(grads, ref_state, params)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), update, ref_update)
        params = optax.apply_updates(params, update)


@pytest.mark.parametrize("eps,b2,warmup,from_zero", [(1e-8, 0.98, 0, False), (1e-25, 0.999, 0, False),
                                                     (1e-8, 0.98, 10, True), (1e-8, 0.98, 4, False)])
def test_adam_with_l2_in_the_gradient_is_torch_adam(eps, b2, warmup, from_zero):
    cfg = TrainConfig(optimizer="adam", decay="l2", lr=1e-2, weight_decay=0.01, b1=0.9, b2=b2, eps=eps,
                      warmup_steps=warmup, warmup_from_zero=from_zero)
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(5,)).astype(np.float64)
    grads = [rng.normal(size=(5,)) for _ in range(15)]
    if warmup:  # LambdaLR(min(step / warmup, 1)) stepped after each update: update n (from 0) uses factor n / warmup
        shift = 0 if from_zero else 1
        lr_t = [1e-2 * min((n + shift) / warmup, 1.0) for n in range(15)]
    else:
        lr_t = [1e-2] * 15
    ref = _torch_adam(w0, grads, lr_t, 0.9, b2, eps, 0.01)
    opt = train.make_optimizer(cfg)
    with jax.enable_x64(True):
        params = {"w": jnp.asarray(w0)}
        state = opt.init(params)
        for t, g in enumerate(grads):
            updates, state = opt.update({"w": jnp.asarray(g)}, state, params)
            params = {"w": params["w"] + updates["w"]}
            np.testing.assert_allclose(np.asarray(params["w"]), ref[t], rtol=1e-6, atol=1e-9)  # the schedule is float32
    if from_zero:  # the first update moves nothing (lr 0), as Nanda et al.'s and Power et al.'s first step
        assert np.array_equal(ref[0], w0)


@pytest.mark.parametrize("optimizer", ["adamw", "adam"])
def test_kept_subnormal_moments_take_the_same_steps_where_nothing_flushes(optimizer):
    plain = TrainConfig(optimizer=optimizer, lr=1e-2, weight_decay=0.1, eps=1e-25, b2=0.999)
    kept = dataclasses.replace(plain, keep_subnormal_moments=True)
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)}
    # gradients from 1e3 down to 1e-11: every moment and square is a normal float32
    grads = [{"w": jnp.asarray(rng.normal(size=(4, 3)) * 10.0 ** (3 - t / 2), jnp.float32)} for t in range(30)]
    runs = {}
    for cfg in (plain, kept):
        opt, w = make_optimizer(cfg), params
        state = opt.init(w)
        for g in grads:
            update, state = jax.jit(opt.update)(g, state, w)
            w = optax.apply_updates(w, update)
        runs[cfg.keep_subnormal_moments] = np.asarray(w["w"])
    np.testing.assert_allclose(runs[True], runs[False], rtol=1e-6)  # XLA may round the scaled products otherwise


def test_kept_subnormal_moments_take_adams_step_where_the_second_moment_is_under_float32s_normals():
    """A gradient of 3e-20 has a square of 9e-40, a subnormal float32: torch keeps it, XLA's CPU flushes it to 0,
    and Adam with eps 1e-25 then steps m / eps, ~3e5 times too far."""
    rng = np.random.default_rng(1)
    g_N = rng.choice([-3e-20, 3e-20], size=8) * rng.uniform(0.5, 1.0, size=8)
    w0 = rng.normal(size=8)
    ref = _torch_adam(w0, [g_N] * 5, [1e-2] * 5, 0.9, 0.999, 1e-25, 0.0)[-1]  # float64: nothing flushes
    steps = {}
    for keep in (False, True):
        opt = make_optimizer(TrainConfig(optimizer="adamw", lr=1e-2, weight_decay=0.0, b2=0.999, eps=1e-25,
                                         keep_subnormal_moments=keep))
        w = {"w": jnp.asarray(w0, jnp.float32)}
        state = opt.init(w)
        for _ in range(5):
            update, state = jax.jit(opt.update)({"w": jnp.asarray(g_N, jnp.float32)}, state, w)
            w = optax.apply_updates(w, update)
        steps[keep] = np.asarray(w["w"], np.float64)
    # five steps of lr each, as in float64 (within optax's float32 bias correction, 1 - 0.999 ** t)
    np.testing.assert_allclose(steps[True] - w0, ref - w0, rtol=1e-4)
    if jax.default_backend() == "cpu":  # what the option is for: the plain moments flush and the step explodes
        assert np.abs(steps[False] - w0).max() > 1e3


def test_warmup_from_zero_needs_warmup_steps():
    with pytest.raises(SpecError, match="warmup_from_zero"):
        TrainConfig(warmup_from_zero=True).validate()


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_each_optimizer_lowers_the_training_loss(spec_factory, optimizer):
    lr = 0.3 if optimizer == "sgd" else 1e-2
    spec = spec_factory(steps=100, log_every=50, seeds=1, optimizer=optimizer, lr=lr, weight_decay=1e-4)
    (group,) = expand(spec)
    hp = group.hparams()
    programs = build_programs(group.spec, 61)
    state, data = programs.init(hp), programs.data(hp)
    before = programs.evaluate(state.params, data)["train_loss"]
    state, m = programs.chunk(state, data, hp)
    state, m = programs.chunk(state, data, hp)
    assert float(m["train_loss"][0]) < 0.5 * float(before[0])


def test_warmup_scales_the_first_updates():
    from lab.config import TrainConfig

    params = {"w": jnp.zeros(3)}
    grads = {"w": jnp.ones(3)}
    cfg = TrainConfig(optimizer="sgd", lr=1.0, momentum=0.0, weight_decay=0.0, warmup_steps=4)
    opt = train.make_optimizer(cfg)
    state = opt.init(params)
    sizes = []
    for _ in range(6):
        updates, state = opt.update(grads, state, params)
        sizes.append(float(-updates["w"][0]))
    np.testing.assert_allclose(sizes, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0], rtol=1e-6)
