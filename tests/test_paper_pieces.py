"""The optimizer and data pieces the papers' own settings need, each against a reference formula:
Adam's betas and eps with L2 inside the gradient (torch.optim.Adam), warmup from lr 0, minibatches in
epochs without replacement, fresh samples every step, and the Zipf-weighted test loss."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import tasks, train
from lab.config import ModelConfig, Spec, SpecError, SweepConfig, TaskConfig, TrainConfig
from lab.train.batches import epoch_rows, train_batch


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


def test_warmup_from_zero_needs_warmup_steps():
    with pytest.raises(SpecError, match="warmup_from_zero"):
        TrainConfig(warmup_from_zero=True).validate()


def test_epochs_read_every_real_row_once_with_a_smaller_last_batch():
    n_real, n_rows, batch = 23, 30, 5  # 5 steps per epoch: 4 x 5 rows and one of 3
    key_of = lambda e: jax.random.fold_in(jax.random.key(0), e)  # noqa: E731
    epochs = []
    for e in range(3):
        rows, weights = [], []
        for s in range(5 * e, 5 * e + 5):
            idx_B, w_B = epoch_rows(key_of, jnp.int32(n_real), n_rows, batch, jnp.int32(s))
            rows += np.asarray(idx_B)[np.asarray(w_B) > 0].tolist()
            weights.append(float(np.sum(np.asarray(w_B))))
        assert sorted(rows) == list(range(n_real))  # each real row once; no padding row ever
        assert weights == [5, 5, 5, 5, 3]
        epochs.append(rows)
    assert epochs[0] != epochs[1] != epochs[2]  # reshuffled every epoch


def _parity_spec(name: str, **task) -> Spec:
    return Spec(task=TaskConfig(name=name, n_bits=12, k=3, n_tasks=4, n_train=64, n_test=64, **task),
                model=ModelConfig(kind="mlp", width=16),
                train=TrainConfig(batch_size=32, steps=20, log_every=10), sweep=SweepConfig())


@pytest.mark.parametrize("name", ["parity", "multitask_parity"])
def test_fresh_samples_draw_new_rows_each_step_with_the_tasks_own_labels(name):
    spec = _parity_spec(name, fresh_samples=True, bits="01")
    data = tasks.make_data(spec.task, train.data_key(jnp.int32(5)), 1.0, 64, False)
    x0, y0, w0 = train_batch(spec, data, jnp.int32(1), jnp.int32(5), jnp.int32(0))
    x1, _, _ = train_batch(spec, data, jnp.int32(1), jnp.int32(5), jnp.int32(1))
    assert x0.shape == (32, data.x_train.shape[1]) and float(jnp.sum(w0)) == 32
    assert not np.array_equal(np.asarray(x0), np.asarray(x1))
    x0 = np.asarray(x0)
    if name == "parity":
        bits = x0
        assert np.array_equal(np.asarray(y0), bits[:, :3].astype(int).sum(1) % 2)
    else:  # the subtasks are the model's own (the data seed's), so the fresh rows ask its test set's questions
        subsets = np.asarray(tasks.task_subsets(spec.task, train.data_key(jnp.int32(5))))
        task_N, bits = x0[:, :4].argmax(1), x0[:, 4:].astype(int)
        expected = np.array([bits[i, subsets[t]].sum() % 2 for i, t in enumerate(task_N)])
        assert np.array_equal(np.asarray(y0), expected)
    assert set(np.unique(x0[:, -12:])) <= {0.0, 1.0}


def test_fresh_samples_need_a_batch_size():
    spec = _parity_spec("parity", fresh_samples=True)
    with pytest.raises(SpecError, match="batch_size"):
        dataclasses.replace(spec, train=TrainConfig(batch_size=0)).validate()


def test_zipf_weighted_test_loss_weights_each_subtask_by_its_frequency():
    spec = _parity_spec("multitask_parity", zipf_exponent=1.4)
    hp = train.hparams_of(spec, [{}])
    state = jax.vmap(lambda h: train.init_state(spec, h))(hp)
    data = jax.vmap(lambda h: train.make_data(spec, h, 64))(hp)
    out = jax.vmap(lambda p, d: train.evaluate(spec, p, d))(state.params, data)
    p_T = tasks.zipf_probs(4, 1.4)
    np.testing.assert_allclose(float(out["test_loss_zipf"][0]), float(np.asarray(out["test_loss_tasks"][0]) @ p_T),
                               rtol=1e-6)
    assert float(out["test_loss_zipf"][0]) != pytest.approx(float(out["test_loss"][0]), rel=1e-6)
