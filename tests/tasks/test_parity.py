"""lab.tasks.parity: labels, disjoint splits, many bits and vmap."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lab.config import TaskConfig
from lab.tasks import (
    input_dtype,
    input_shape,
    make_data,
    make_parity,
)
from tests.helpers import check_data_dtypes, key_of


def test_parity_labels_and_disjoint():
    cfg = TaskConfig(name="parity", n_bits=8, k=3, n_train=100, n_test=156)
    d = make_data(cfg, key_of(0), 0.3, 0, False)
    assert d.x_train.shape == (100, 8) and d.x_test.shape == (156, 8)
    check_data_dtypes(d)
    assert d.x_train.shape[1:] == input_shape(cfg, False) and d.x_train.dtype == input_dtype(cfg)
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        x = np.asarray(x)
        assert set(np.unique(x)) <= {-1.0, 1.0}
        assert np.array_equal(np.asarray(y), (np.prod(x[:, :3], axis=1) == -1).astype(np.int32))
    rows = {tuple(r) for r in np.asarray(d.x_train).tolist()} | {tuple(r) for r in np.asarray(d.x_test).tolist()}
    assert len(rows) == 256  # all distinct, so train and test are disjoint
    assert float(d.w_train.sum()) == 100 and not np.asarray(d.t_test).any()


def test_parity_many_bits_and_vmap():
    cfg = TaskConfig(name="parity", n_bits=30, k=4, n_train=50, n_test=60)
    keys = jax.vmap(key_of)(jnp.arange(3))
    d = jax.jit(jax.vmap(partial(make_parity, cfg)))(keys)
    assert d.x_train.shape == (3, 50, 30)
    x = np.asarray(d.x_test[1])
    assert np.array_equal(np.asarray(d.y_test[1]), (np.prod(x[:, :4], axis=1) == -1).astype(np.int32))
    assert np.array_equal(d.x_train[2], make_parity(cfg, keys[2]).x_train)
    assert not np.array_equal(d.x_train[0], d.x_train[1])
