"""lab.tasks.multitask_parity: inputs, labels, Zipf task frequencies, vmap, and one easy skill learned alone."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lab
from lab.config import (
    TaskConfig,
)
from lab.launch.runner import run_sweep
from lab.tasks import (
    input_shape,
    make_data,
    make_multitask_parity,
    task_subsets,
    zipf_probs,
)
from tests.helpers import check_data_dtypes, key_of, skills_spec

MT = TaskConfig(name="multitask_parity", n_bits=12, k=3, n_tasks=5, n_train=20000, n_test=503, zipf_exponent=1.4)
MT_KEYS = jax.vmap(key_of)(jnp.arange(3))


@pytest.fixture(scope="module")
def mt_batch():
    """Multitask data for 3 keys from one jitted vmap (compiled once for all multitask tests)."""
    return jax.jit(jax.vmap(lambda k: make_data(MT, k, 0.5, 0, False)))(MT_KEYS)


def test_a_model_trained_on_a_single_easy_skill_learns_it(tmp_path):
    from lab.report import build_report

    run = lab.open(run_sweep(skills_spec(n_tasks=1, steps=600), tmp_path / "one", progress=False))
    last = run.metrics[run.metrics.step == run.metrics.step.max()].iloc[0]
    first = run.metrics[run.metrics.step == 0].iloc[0]
    assert first.test_acc_task_0 < 0.7 and last.test_acc_task_0 > 0.95
    index = build_report(run.path).read_text()  # the skills figure: drawn, with the skill's learning step
    assert "![Skills: emergence and composition](skills.png)" in index and (run.path / "report/skills.png").exists()
    assert "too few learned skills for a fit" in index  # one skill: no power law to fit


def test_multitask_inputs_and_labels(mt_batch):
    subsets = np.asarray(task_subsets(MT, MT_KEYS[1]))
    assert subsets.shape == (5, 3) and subsets.dtype == np.int32
    assert all(len(set(s)) == 3 for s in subsets.tolist()) and (subsets < 12).all()
    assert len({tuple(s) for s in subsets.tolist()}) > 1
    d = jax.tree.map(lambda a: a[1], mt_batch)
    check_data_dtypes(d)
    for x, y, t in ((d.x_train, d.y_train, d.t_train), (d.x_test, d.y_test, d.t_test)):
        x, y, t = np.asarray(x), np.asarray(y), np.asarray(t)
        assert x.shape[1:] == input_shape(MT, False) == (17,) and x.dtype == np.float32
        assert np.array_equal(x[:, :5], np.eye(5, dtype=np.float32)[t])
        bits = x[:, 5:]
        assert set(np.unique(bits)) <= {-1.0, 1.0}
        read = np.take_along_axis(bits, subsets[t], axis=1)
        assert np.array_equal(y, (np.prod(read, axis=1) == -1).astype(np.int32))


def test_multitask_task_frequencies(mt_batch):
    probs = zipf_probs(5, 1.4)
    assert np.isclose(probs.sum(), 1) and np.all(np.diff(probs) < 0)
    assert np.allclose(zipf_probs(4, 0.0), 0.25)
    for i in range(3):
        counts = np.bincount(np.asarray(mt_batch.t_train[i]), minlength=5)
        expected = probs * MT.n_train
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 20.5  # p < 0.0004 for 4 degrees of freedom
        test_counts = np.bincount(np.asarray(mt_batch.t_test[i]), minlength=5)
        assert test_counts.min() >= 100 and test_counts.max() <= 101


def test_multitask_vmap_and_keys(mt_batch):
    single = jax.jit(partial(make_multitask_parity, MT))(MT_KEYS[2])
    assert all(np.array_equal(u[2], v) for u, v in zip(mt_batch, single))
    assert not np.array_equal(mt_batch.x_train[0], mt_batch.x_train[1])
    assert not np.array_equal(task_subsets(MT, MT_KEYS[0]), task_subsets(MT, MT_KEYS[1]))
