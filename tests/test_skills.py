"""Per-skill metrics of multitask sparse parity: logged per subtask, consistent with the mean, learnable."""

from __future__ import annotations

import numpy as np

import lab
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.sweeps.runner import run_sweep
from lab.tasks import make_multitask_parity
from lab.train import data_key


def _spec(n_tasks: int, steps: int) -> Spec:
    return Spec(task=TaskConfig(name="multitask_parity", n_bits=10, k=2, n_tasks=n_tasks, n_train=2000, n_test=301),
                model=ModelConfig(kind="mlp", width=64),
                train=TrainConfig(lr=3e-3, weight_decay=0.1, steps=steps, log_every=steps // 2, checkpoints=1),
                name="skills")


def test_per_skill_metrics_are_logged_and_average_to_the_mean(tmp_path):
    spec = _spec(n_tasks=3, steps=100)
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


def test_a_model_trained_on_a_single_easy_skill_learns_it(tmp_path):
    run = lab.open(run_sweep(_spec(n_tasks=1, steps=600), tmp_path / "one", progress=False))
    last = run.metrics[run.metrics.step == run.metrics.step.max()].iloc[0]
    first = run.metrics[run.metrics.step == 0].iloc[0]
    assert first.test_acc_task_0 < 0.7 and last.test_acc_task_0 > 0.95


def test_skill_steps_and_the_power_law_fit_on_synthetic_data():
    import pandas as pd
    import pytest

    from lab.analysis.emergence import fit_power_law, skill_steps

    rows = []
    for step in range(0, 1000, 100):  # skill 0 learned at 200, skill 1 at 500, skill 2 never
        rows.append({"model": 0, "step": step, "test_acc_task_0": float(step >= 200),
                     "test_acc_task_1": 0.5 + 0.5 * (step >= 500), "test_acc_task_2": 0.5})
    table = skill_steps(pd.DataFrame(rows))
    assert table.step.tolist()[:2] == [200.0, 500.0] and np.isnan(table.step[2])
    with pytest.raises(ValueError, match="no per-skill columns"):
        skill_steps(pd.DataFrame(rows)[["model", "step"]])

    rng = np.random.default_rng(0)
    x = np.geomspace(1e3, 1e6, 12)
    y = 7.0 * x**-0.34 * np.exp(0.03 * rng.normal(size=x.size))  # 3% multiplicative noise
    fit = fit_power_law(x, y)
    assert abs(fit.exponent - 0.34) < 0.02 and fit.exponent_low < 0.34 < fit.exponent_high
    assert 0 < fit.stderr < 0.02 and abs(fit.prefactor - 7.0) / 7.0 < 0.3
    np.testing.assert_allclose(fit(x), y, rtol=0.1)
    with pytest.raises(ValueError, match="at least 3 positive points"):
        fit_power_law([1, 2], [1, 2])


def test_skill_composition_labels_and_held_out_tuples():
    import jax
    import pytest

    from lab.config import SpecError
    from lab.tasks import make_composition, skill_subsets, skill_tuples

    cfg = TaskConfig(name="skill_composition", n_bits=12, k=2, n_tasks=5, compose_k=2, n_train=4000, n_test=500,
                     train_frac=0.6)
    cfg.validate()
    tuples = skill_tuples(cfg)
    assert tuples.shape == (10, 2)
    data = jax.jit(make_composition, static_argnums=0)(cfg, jax.random.key(3), 0.6)
    seen, held = set(np.asarray(data.t_train).tolist()), set(np.asarray(data.t_test).tolist())
    assert len(seen) == 6 and len(held) == 4 and not seen & held  # 60% of 10 tuples trained, the rest held out
    subsets = np.asarray(skill_subsets(cfg, jax.random.key(3)))
    assert len(set(subsets.ravel().tolist())) == 10  # 5 skills x 2 bits, disjoint
    x, y, t = np.asarray(data.x_test), np.asarray(data.y_test), np.asarray(data.t_test)
    bits01 = (x[:, 5:] < 0).astype(int)  # to_pm1 maps bit 1 to -1
    for row in range(200):
        skills = tuples[t[row]]
        assert np.flatnonzero(x[row, :5]).tolist() == sorted(skills)  # the multi-hot prefix names the skills
        assert y[row] == bits01[row, subsets[skills].ravel()].sum() % 2  # parity of all their bits
    assert 0.4 < y.mean() < 0.6
    with pytest.raises(SpecError, match="task.compose_k must be in"):
        TaskConfig(name="skill_composition", n_tasks=3, compose_k=4).validate()
    with pytest.raises(SpecError, match="at least 2 are needed"):
        TaskConfig(name="skill_composition", n_tasks=3, compose_k=3).validate()


def test_a_model_trains_on_skill_composition(tmp_path):
    spec = Spec(task=TaskConfig(name="skill_composition", n_bits=10, k=2, n_tasks=4, compose_k=1, n_train=2000,
                                n_test=300, train_frac=0.75),
                model=ModelConfig(kind="mlp", width=64),
                train=TrainConfig(lr=3e-3, weight_decay=0.1, steps=400, log_every=200, checkpoints=1), name="compose")
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    last = run.metrics[run.metrics.step == 400].iloc[0]
    assert last.train_acc > 0.95  # the 3 trained single skills are learned
    assert "skill composition: 4 skills" in __import__("lab.report.describe", fromlist=["x"]).describe_task(spec.task)
