"""Tests of lab.train: vmapped models equal separate runs, per-model hyperparameters, optimizers, losses."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import train
from lab.sweeps import expand
from lab.train import HParams, build_programs, per_example_loss


def _train(spec, hp, chunks=2):
    """Train the models of hp for `chunks` chunks; return final params and the metrics of each chunk."""
    programs = build_programs(spec, n_train_max=61)
    state, data = programs.init(hp), programs.data(hp)
    metrics = []
    for _ in range(chunks):
        state, m = programs.chunk(state, data, hp)
        metrics.append(jax.device_get(m))
    return jax.device_get(state.params), metrics


def _select(hp: HParams, i: int) -> HParams:
    return HParams(*(np.asarray(v)[i : i + 1] for v in hp))


@pytest.mark.parametrize("batch_size", [0, 16])
def test_vmapped_models_equal_separate_runs(spec_factory, batch_size):
    spec = spec_factory(axes=[("train.lr", (3e-3, 1e-2)), ("train.weight_decay", (0.0, 1.0))], batch_size=batch_size)
    (group,) = expand(spec)
    hp = group.hparams()
    assert group.size == 8 and len(set(np.asarray(hp.seed).tolist())) == 2
    params_M, metrics_M = _train(group.spec, hp)
    for i in range(group.size):
        params_1, metrics_1 = _train(group.spec, _select(hp, i))
        # One device, the same program per model: equal up to the order XLA sums batched products in.
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b[0], rtol=2e-5, atol=2e-6), params_M, params_1)
        np.testing.assert_allclose(metrics_M[-1]["train_loss"][i], metrics_1[-1]["train_loss"][0], rtol=1e-4)
    # The swept numbers really differ per model: no two models end with the same weights.
    flat = np.stack([np.concatenate([w[i].ravel() for w in jax.tree.leaves(params_M)]) for i in range(group.size)])
    assert len({row.tobytes() for row in flat}) == group.size


def test_same_seed_same_init_and_replayable_keys(spec_factory):
    (group,) = expand(spec_factory(axes=[("train.lr", (3e-3, 1e-2))], seeds=1))
    state = build_programs(group.spec, 61).init(group.hparams())
    jax.tree.map(lambda w: np.testing.assert_array_equal(w[0], w[1]), state.params)  # lr does not change the init
    k1 = train.step_key(jnp.int32(3), jnp.int32(7))
    assert jnp.array_equal(jax.random.key_data(k1), jax.random.key_data(train.step_key(jnp.int32(3), jnp.int32(7))))
    assert not jnp.array_equal(jax.random.key_data(k1), jax.random.key_data(train.step_key(jnp.int32(3), jnp.int32(8))))


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


def test_losses():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = jnp.array([0, 2])
    ce = per_example_loss(logits, y, "cross_entropy")
    ref = -np.log(np.exp(2.0) / (np.exp(2.0) + 1 + np.exp(-1.0)))
    np.testing.assert_allclose(ce, [ref, np.log(3.0)], rtol=1e-6)
    np.testing.assert_allclose(per_example_loss(logits, y, "cross_entropy_class_mean"), ce / 3, rtol=1e-6)
    np.testing.assert_allclose(per_example_loss(logits, y, "mse"), [(1 + 0 + 1) / 3, (0 + 0 + 1) / 3], rtol=1e-6)


def test_padding_does_not_change_the_loss(spec_factory):
    """Models of different train fractions share a padded training set; padding must weigh nothing."""
    spec = spec_factory(seeds=1, axes=[("task.train_frac", (0.3, 0.5))])
    (group,) = expand(spec)
    hp = group.hparams()
    programs = build_programs(group.spec, group.n_train_max())
    data = programs.data(hp)
    assert np.asarray(data.w_train).sum(axis=1).tolist() == [round(0.3 * 121), round(0.5 * 121)]
    state = programs.init(hp)
    small = dataclasses.replace(group.spec, task=dataclasses.replace(group.spec.task, train_frac=0.3))
    alone = build_programs(small, round(0.3 * 121))
    hp0 = _select(hp, 0)
    got = programs.evaluate(state.params, data)["train_loss"][0]
    want = alone.evaluate(alone.init(hp0).params, alone.data(hp0))["train_loss"][0]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_shared_data_equals_stacked_data(spec_factory):
    """Models with one data seed and train fraction read one dataset; the numbers do not change."""
    (group,) = expand(spec_factory(axes=[("train.weight_decay", (0.0, 1.0))]))
    assert group.shares_data
    hp = group.hparams()
    stacked, shared = build_programs(group.spec, 61), build_programs(group.spec, 61, shared_data=True)
    state_a, state_b = stacked.init(hp), shared.init(hp)
    data_a, data_b = stacked.data(hp), shared.data(jax.tree.map(lambda x: x[0], hp))
    assert data_b.x_train.ndim == data_a.x_train.ndim - 1
    state_a, m_a = stacked.chunk(state_a, data_a, hp)
    state_b, m_b = shared.chunk(state_b, data_b, hp)
    np.testing.assert_allclose(m_a["train_loss"], m_b["train_loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), state_a.params, state_b.params)


@pytest.mark.parametrize("model_batch", [1, 3])
def test_models_in_batches_equal_all_at_once(spec_factory, model_batch):
    """lax.map over batches of models (the CPU layout) computes what one vmap over all of them does."""
    (group,) = expand(spec_factory(seeds=4, axes=[("train.weight_decay", (0.0, 1.0))]))  # 8 models; 8 % 3 != 0
    hp = group.hparams()
    all_at_once, batched = build_programs(group.spec, 61), build_programs(group.spec, 61, model_batch=model_batch)
    state_a, m_a = all_at_once.chunk(all_at_once.init(hp), all_at_once.data(hp), hp)
    state_b, m_b = batched.chunk(batched.init(hp), batched.data(hp), hp)
    np.testing.assert_allclose(m_a["train_loss"], m_b["train_loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), state_a.params, state_b.params)
