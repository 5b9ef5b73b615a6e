"""lab.tasks.data: the fields of Data, its pytree round trip, and every task's make_data keeping the contract."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab.config import TaskConfig
from lab.tasks import Data, input_dtype, input_shape, make_data, modular_size
from lab.tasks.data import Data as DataFromModule

FIELDS = ("x_train", "y_train", "w_train", "t_train", "x_test", "y_test", "w_test", "t_test")
# (task, as_tokens, n_train_max): the task kinds, the table tasks with padded rows
TASKS = {
    "modular": (TaskConfig(p=7, train_frac=0.5), False, 30),
    "modular_tokens": (TaskConfig(p=7, train_frac=0.5, sequence="a_op_b_eq"), True, 30),
    "integer": (TaskConfig(name="integer", op="x-y", p=5, train_frac=0.4), False, 14),
    "parity": (TaskConfig(name="parity", n_bits=6, k=2, n_train=20, n_test=30), False, 0),
    "multitask_parity": (TaskConfig(name="multitask_parity", n_bits=8, k=2, n_tasks=3, n_train=40, n_test=31), False,
                         0),
}  # skill_composition (t_* are tuple sizes - 1) compiles for seconds: tests/tasks/test_composition.py checks it
make_data_jit = jax.jit(make_data, static_argnums=(0, 3, 4))  # eager dispatch op by op is slower than a compile


def _data(name: str, seed: int = 0) -> Data:
    """The Data of one of TASKS, as host numpy arrays."""
    cfg, as_tokens, n_max = TASKS[name]
    return jax.device_get(make_data_jit(cfg, jax.random.key(seed), cfg.train_frac, n_max, as_tokens))


def _toy(n_tr: int = 4, n_te: int = 3, seed: int = 0) -> Data:
    """A hand-made Data: [N, 2] int inputs, labels, unit weights with the last train row padding, zero ids."""
    rng = np.random.default_rng(seed)
    return Data(x_train=rng.integers(0, 5, (n_tr, 2), np.int32), y_train=rng.integers(0, 5, n_tr, np.int32),
                w_train=np.r_[np.ones(n_tr - 1), 0.0].astype(np.float32), t_train=np.zeros(n_tr, np.int32),
                x_test=rng.integers(0, 5, (n_te, 2), np.int32), y_test=rng.integers(0, 5, n_te, np.int32),
                w_test=np.ones(n_te, np.float32), t_test=np.zeros(n_te, np.int32))


def test_data_has_the_documented_fields_in_train_then_test_order():
    assert Data is DataFromModule and Data._fields == FIELDS
    data = _toy()
    assert data[0] is data.x_train and data[7] is data.t_test  # a tuple: fields by position too
    with pytest.raises(TypeError):
        Data(*_toy()[:7])  # every field is required


def test_data_round_trips_through_pytree_flatten_jit_and_vmap():
    data = _toy()
    leaves, treedef = jax.tree.flatten(data)
    assert len(leaves) == 8 and all(leaf is getattr(data, f) for leaf, f in zip(leaves, FIELDS))
    back = jax.tree.unflatten(treedef, leaves)
    assert isinstance(back, Data) and all(np.array_equal(a, b) for a, b in zip(back, data))
    doubled = jax.jit(lambda d: d._replace(y_train=2 * d.y_train, w_test=jnp.zeros_like(d.w_test)))(data)
    assert isinstance(doubled, Data)
    np.testing.assert_array_equal(doubled.y_train, 2 * data.y_train)
    np.testing.assert_array_equal(doubled.w_test, 0.0)
    np.testing.assert_array_equal(doubled.x_test, data.x_test)
    # A stack of models' Data is one Data of [M, ...] arrays; vmap maps over it and slices back to each model.
    stacked = jax.tree.map(lambda *a: np.stack(a), *(_toy(seed=s) for s in range(3)))
    weighted_M = jax.vmap(lambda d: jnp.sum(d.w_train * d.y_train))(stacked)
    for m in range(3):
        one = _toy(seed=m)
        assert weighted_M[m] == np.sum(one.w_train * one.y_train)
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.map(lambda w, m=m: w[m], stacked), one))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_keeps_the_data_contract(name):
    cfg, as_tokens, n_max = TASKS[name]
    data = _data(name)
    assert isinstance(data, Data)
    for split in ("train", "test"):
        x, y, w, t = (getattr(data, f"{f}_{split}") for f in "xywt")
        n = y.shape[0]
        assert y.shape == w.shape == t.shape == (n,) and x.shape == (n, *input_shape(cfg, as_tokens))
        assert y.dtype == t.dtype == jnp.int32 and w.dtype == jnp.float32 and x.dtype == input_dtype(cfg)
        assert set(np.unique(np.asarray(w)).tolist()) <= {0.0, 1.0}
        y_N = np.asarray(y)
        assert 0 <= y_N.min() and y_N.max() < cfg.n_classes
        t_N = np.asarray(t)
        if name == "multitask_parity":
            assert 0 <= t_N.min() and t_N.max() < cfg.n_tasks and len(np.unique(t_N)) > 1
        else:
            assert not t_N.any()  # single-task data: task id 0


@pytest.mark.parametrize("name", ["modular", "modular_tokens", "integer"])
def test_padded_training_rows_come_last_with_weight_zero(name):
    cfg, _, n_max = TASKS[name]
    data = _data(name)
    n_all, n_train = modular_size(cfg), round(cfg.train_frac * modular_size(cfg))
    assert data.x_train.shape[0] == n_max > n_train
    np.testing.assert_array_equal(data.w_train, np.r_[np.ones(n_train), np.zeros(n_max - n_train)])
    # The weights count each example exactly once: trained rows are the ones the test weights leave out.
    assert float(data.w_train.sum() + data.w_test.sum()) == n_all
    np.testing.assert_array_equal(data.w_test[:n_train], 0.0)
    np.testing.assert_array_equal(data.x_train[:n_train], data.x_test[:n_train])


def test_make_data_is_jittable_and_vmappable_over_keys():
    cfg, as_tokens, n_max = TASKS["modular"]
    keys_M = jax.random.split(jax.random.key(5), 3)
    stacked = jax.device_get(jax.jit(jax.vmap(partial(make_data, cfg, train_frac=cfg.train_frac, n_train_max=n_max,
                                                      as_tokens=as_tokens)))(keys_M))
    assert isinstance(stacked, Data) and stacked.x_train.shape == (3, n_max, 2) and stacked.y_test.shape == (3, 49)
    for m in range(3):
        one = jax.device_get(make_data_jit(cfg, keys_M[m], cfg.train_frac, n_max, as_tokens))
        assert all(np.array_equal(a[m], b) for a, b in zip(stacked, one))
    assert not np.array_equal(stacked.x_test[0], stacked.x_test[1])  # each key its own split


def test_an_unknown_task_name_is_refused():
    with pytest.raises(ValueError, match="unknown task.name 'sorting'"):
        make_data(TaskConfig(name="sorting"), jax.random.key(0), 0.5, 1, False)
