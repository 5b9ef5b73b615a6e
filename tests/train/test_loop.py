"""lab.train.loop: vmapped models equal separate runs, padding and shared data change nothing, models in batches
equal all at once, per-skill metrics, and the PAIR models learn within their step budgets."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import lab
from lab import models
from lab.launch.runner import run_sweep
from lab.sweeps import expand, load_spec
from lab.tasks import make_multitask_parity
from lab.train import (
    HParams,
    build_programs,
    data_key,
)
from tests.helpers import SWEEPS, first_models, skills_spec


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


def test_main_model_fits_its_training_set_within_1000_steps(tmp_path):
    spec = load_spec(SWEEPS / "pair_modadd.toml", ["train.steps=1000", "sweep.seeds=3", "train.checkpoints=0"])
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    at_1000 = run.metrics[run.metrics.step == 1000]
    assert (at_1000.train_acc == 1.0).all()  # the notebook's log: 100% train accuracy at step 500
    assert (at_1000.test_acc < 0.05).all()  # memorized, not generalized


@pytest.mark.slow
def test_five_neuron_model_reaches_full_test_accuracy(tmp_path):
    spec = load_spec(SWEEPS / "pair_circle.toml", ["sweep.seeds=2", "train.checkpoints=2"])
    assert models.param_count(first_models(spec, 1)[0][0].params) == 20  # 2 x 5 in, 5 x 2 out
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    last = run.metrics[run.metrics.step == spec.train.steps]
    assert (last.test_acc == 1.0).all()


def test_per_skill_metrics_are_logged_and_average_to_the_mean(tmp_path):
    spec = skills_spec(n_tasks=3, steps=100)
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    columns = [f"test_acc_task_{t}" for t in range(3)] + [f"test_loss_task_{t}" for t in range(3)]
    assert set(columns) <= set(run.metrics.columns)
    data = make_multitask_parity(spec.task, data_key(0))  # the data the run trained on (data seed 0)
    counts = np.bincount(np.asarray(data.t_test), minlength=3)  # 101, 100, 100 (balanced test set)
    assert counts.tolist() == [101, 100, 100]
    for _, row in run.metrics.iterrows():
        per_task = row[[f"test_acc_task_{t}" for t in range(3)]].to_numpy(float)
        np.testing.assert_allclose(np.average(per_task, weights=counts), row.test_acc, rtol=1e-5)
        per_loss = row[[f"test_loss_task_{t}" for t in range(3)]].to_numpy(float)
        np.testing.assert_allclose(np.average(per_loss, weights=counts), row.test_loss, rtol=1e-4)


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


def test_row_blocks_train_as_the_whole_batch_does(spec_factory):
    """A chunk whose steps sum the gradient over blocks of 16 rows (61 rows: the last block padded)."""
    (group,) = expand(spec_factory(seeds=2))
    hp = group.hparams()
    whole, blocks = build_programs(group.spec, 61), build_programs(group.spec, 61, row_block=16)
    state_a, m_a = whole.chunk(whole.init(hp), whole.data(hp), hp)
    state_b, m_b = blocks.chunk(blocks.init(hp), blocks.data(hp), hp)
    np.testing.assert_allclose(m_a["train_loss"], m_b["train_loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), state_a.params, state_b.params)
