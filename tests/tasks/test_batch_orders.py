"""lab.tasks.batch_orders: a peer's minibatch order (train.batches_from) is read as written, trains the rows it
names in its order, and a file that cannot serve the spec is a one-line error before anything trains."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from lab import tasks
from lab.config import SpecError, TaskConfig
from lab.sweeps import expand
from lab.train.batches import train_batch
from tests.helpers import key_of, tiny_spec

ROWS = [40, 3, 77, 12, 0, 119, 58, 91, 25, 66, 101, 7, 33]  # 13 of the 121 pairs of p = 11


def _files(tmp_path, orders) -> tuple[str, str]:
    split, batches = tmp_path / "split.npz", tmp_path / "batches.npz"
    np.savez(split, train_index=np.asarray(ROWS))
    np.savez(batches, epoch_order=np.asarray(orders))
    return str(split), str(batches)


def _spec(tmp_path, orders, steps: int = 8, log_every: int = 4):
    split, batches = _files(tmp_path, orders)
    spec = tiny_spec(steps=steps, log_every=log_every, seeds=1, batch_size=5, sampling="epochs", batches_from=batches)
    return dataclasses.replace(spec, task=TaskConfig(p=11, train_frac=13 / 121, split_from=split))


def _orders(n_epochs: int, n_rows: int = 13) -> np.ndarray:
    return np.stack([np.random.default_rng(e).permutation(n_rows) for e in range(n_epochs)])


def test_each_step_reads_the_files_rows_in_its_order_with_a_smaller_last_batch(tmp_path):
    orders = _orders(2)  # 13 rows in batches of 5: 3 steps per epoch (5, 5, 3)
    spec = _spec(tmp_path, orders)
    data = tasks.make_data(spec.task, key_of(0), spec.task.train_frac, 13, False)
    ab, _ = tasks.all_pairs(spec.task)
    for step in range(6):
        x, _, w_B = train_batch(spec, data, jnp.int32(7), jnp.int32(0), jnp.int32(step))
        epoch, slot = divmod(step, 3)
        want = [ROWS[i] for i in orders[epoch][slot * 5:slot * 5 + 5]]
        n = int(np.asarray(w_B).sum())
        assert n == len(want) and np.asarray(x)[:n].tolist() == ab[want].tolist()


def test_the_order_replaces_the_seeds_draws(tmp_path):
    spec = _spec(tmp_path, _orders(3))
    free = dataclasses.replace(spec, train=dataclasses.replace(spec.train, batches_from=""))
    data = tasks.make_data(spec.task, key_of(0), spec.task.train_frac, 13, False)

    def rows(s, seed):  # the rows of the first two epochs' steps under train.seed = seed
        return [np.asarray(train_batch(s, data, jnp.int32(seed), jnp.int32(0), jnp.int32(t))[0]).tolist()
                for t in range(6)]

    assert rows(spec, 7) == rows(spec, 8)  # every seed reads the file's batches
    assert rows(free, 7) != rows(free, 8)  # without it each seed draws its own


@pytest.mark.parametrize("orders,steps,message", [
    (_orders(2, n_rows=12), 4, "orders 12 training rows per epoch; this model trains on 13"),
    (_orders(2), 12, "holds 2 epochs, 6 steps of 5 rows; train.steps = 12 asks for more"),
    (np.zeros((2, 13), int), 4, "each row of epoch_order must hold every training position 0..12 once"),
    (np.arange(13), 4, "needs a 2-D epoch_order [epochs, training rows]; its arrays: epoch_order"),
])
def test_a_file_that_cannot_serve_the_spec_is_a_one_line_error(tmp_path, orders, steps, message):
    with pytest.raises(SpecError) as err:
        expand(_spec(tmp_path, orders, steps=steps, log_every=2))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_batches_from_needs_epochs_and_a_fixed_training_set(tmp_path):
    spec = _spec(tmp_path, _orders(2))
    with pytest.raises(SpecError, match="set train.sampling = 'epochs'"):
        dataclasses.replace(spec, train=dataclasses.replace(spec.train, sampling="uniform")).validate()
    with pytest.raises(SpecError, match="set task.split_from"):
        dataclasses.replace(spec, task=TaskConfig(p=11, train_frac=0.5)).validate()
