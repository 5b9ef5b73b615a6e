"""lab.train.batches: minibatches in epochs without replacement, and fresh samples every step with the task's
labels."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import tasks, train
from lab.config import (
    SpecError,
    TrainConfig,
)
from lab.train.batches import epoch_rows, shuffled, train_batch
from tests.helpers import parity_spec


def test_epochs_read_every_real_row_once_with_a_smaller_last_batch():
    n_real, n_rows, batch = 23, 30, 5  # 5 steps per epoch: 4 x 5 rows and one of 3
    perm_of = lambda e: shuffled(jax.random.fold_in(jax.random.key(0), e), n_real, n_rows)  # noqa: E731
    epochs = []
    for e in range(3):
        rows, weights = [], []
        for s in range(5 * e, 5 * e + 5):
            idx_B, w_B = epoch_rows(perm_of, jnp.int32(n_real), n_rows, batch, jnp.int32(s))
            rows += np.asarray(idx_B)[np.asarray(w_B) > 0].tolist()
            weights.append(float(np.sum(np.asarray(w_B))))
        assert sorted(rows) == list(range(n_real))  # each real row once; no padding row ever
        assert weights == [5, 5, 5, 5, 3]
        epochs.append(rows)
    assert epochs[0] != epochs[1] != epochs[2]  # reshuffled every epoch


@pytest.mark.parametrize("name", ["parity", "multitask_parity"])
def test_fresh_samples_draw_new_rows_each_step_with_the_tasks_own_labels(name):
    spec = parity_spec(name, fresh_samples=True, bits="01")
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
    spec = parity_spec("parity", fresh_samples=True)
    with pytest.raises(SpecError, match="batch_size"):
        dataclasses.replace(spec, train=TrainConfig(batch_size=0)).validate()
