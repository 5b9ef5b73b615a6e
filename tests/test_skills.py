"""Per-skill metrics of multitask sparse parity: logged per subtask, consistent with the mean, learnable."""

from __future__ import annotations

import dataclasses

import numpy as np

import lab
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.launch.runner import run_sweep
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
    from lab.report import build_report

    run = lab.open(run_sweep(_spec(n_tasks=1, steps=600), tmp_path / "one", progress=False))
    last = run.metrics[run.metrics.step == run.metrics.step.max()].iloc[0]
    first = run.metrics[run.metrics.step == 0].iloc[0]
    assert first.test_acc_task_0 < 0.7 and last.test_acc_task_0 > 0.95
    index = build_report(run.path).read_text()  # the skills figure: drawn, with the skill's learning step
    assert "![Skills: emergence and composition](skills.png)" in index and (run.path / "report/skills.png").exists()
    assert "too few learned skills for a fit" in index  # one skill: no power law to fit


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


def test_the_joint_power_law_fit_recovers_every_exponent():
    import pandas as pd
    import pytest

    from lab.analysis.emergence import fit_joint_power_law

    rng = np.random.default_rng(1)
    n, d, s = (np.exp(rng.uniform(np.log(lo), np.log(hi), 300)) for lo, hi in ((1e3, 1e6), (1e3, 1e5), (1e2, 1e4)))
    loss = 40.0 * n**-0.3 * d**-0.15 * s**-0.5 * np.exp(0.05 * rng.normal(size=300))
    table = pd.DataFrame({"params": n, "n_train": d, "step": s, "test_loss": loss})
    fit = fit_joint_power_law(table, ["params", "n_train", "step"], "test_loss", n_boot=300)
    for got, want, low, high in zip(fit.exponents, (0.3, 0.15, 0.5), fit.exponents_low, fit.exponents_high):
        assert abs(got - want) < 0.02 and low < want < high
    assert fit.r2 > 0.95 and abs(np.log(fit.prefactor / 40.0)) < 0.3
    np.testing.assert_allclose(fit(table[["params", "n_train", "step"]]), loss, rtol=0.2)
    assert "params: exponent 0.3" in fit.describe()
    with pytest.raises(ValueError, match="does not vary|do\\(es\\) not vary"):
        fit_joint_power_law(table.assign(n_train=5.0), ["params", "n_train"], "test_loss")
    with pytest.raises(ValueError, match="no column"):
        fit_joint_power_law(table, ["width"], "test_loss")


def test_skill_composition_labels_and_held_out_tuples():
    import jax
    import pytest

    from lab.config import SpecError
    from lab.tasks import make_composition, skill_subsets, skill_tuples

    cfg = TaskConfig(name="skill_composition", n_bits=12, k=2, n_tasks=5, compose_k=2, compose_test=3, n_train=4000,
                     n_test=600, train_frac=0.6)
    cfg.validate()
    assert cfg.n_classes == 4 and cfg.test_groups == ("k1", "k2", "k3")  # counts 0..3, one column per size
    tuples = skill_tuples(cfg)
    assert tuples.shape == (10, 2)
    data = jax.jit(make_composition, static_argnums=0)(cfg, jax.random.key(3), 0.6)
    subsets = np.asarray(skill_subsets(cfg, jax.random.key(3)))
    assert len(set(subsets.ravel().tolist())) == 10  # 5 skills x 2 bits, disjoint

    def named(x):
        return [tuple(np.flatnonzero(row[:5]).tolist()) for row in np.asarray(x)]

    train, test = named(data.x_train), named(data.x_test)
    pairs_tr = {t for t in train if len(t) == 2}
    assert len(pairs_tr) == 6 and {len(t) for t in train} == {1, 2}  # 60% of the 10 pairs, and single skills
    assert np.array_equal(np.asarray(data.t_train), [len(t) - 1 for t in train])
    sizes = np.asarray(data.t_test) + 1
    assert np.array_equal(sizes, [len(t) for t in test]) and np.bincount(sizes).tolist() == [0, 200, 200, 200]
    pairs_te = {t for t in test if len(t) == 2}
    assert len(pairs_te) == 4 and not pairs_te & pairs_tr  # the other 4 pairs, never trained together
    x, y = np.asarray(data.x_test), np.asarray(data.y_test)
    bits01 = (x[:, 5:] < 0).astype(int)  # to_pm1 maps bit 1 to -1
    for row in range(0, 600, 3):
        answers = [bits01[row, subsets[s]].sum() % 2 for s in test[row]]
        assert y[row] == sum(answers)  # the number of named skills whose parity is 1
    xor = jax.jit(make_composition, static_argnums=0)(dataclasses.replace(cfg, compose_rule="xor"),
                                                       jax.random.key(3), 0.6)
    np.testing.assert_array_equal(np.asarray(xor.y_test), y % 2)  # the same examples, the parity of all their bits
    mixed = jax.jit(make_composition, static_argnums=0)(dataclasses.replace(cfg, compose_k=3, compose_mix=True),
                                                         jax.random.key(3), 0.6)
    train_m, test_m = named(mixed.x_train), named(mixed.x_test)
    assert {len(t) for t in train_m} == {1, 2, 3}  # single skills, 60% of the pairs and 60% of the triples
    for size, n_all in ((2, 10), (3, 10)):
        seen = {t for t in train_m if len(t) == size}
        held = {t for t in test_m if len(t) == size}
        assert len(seen) == 6 and held and not seen & held and len(seen | held) <= n_all
    with pytest.raises(SpecError, match="task.compose_k must be in"):
        TaskConfig(name="skill_composition", n_tasks=3, compose_k=4).validate()
    with pytest.raises(SpecError, match="at least 2 are needed"):
        TaskConfig(name="skill_composition", n_tasks=3, compose_k=3).validate()
    with pytest.raises(SpecError, match="task.compose_test must be"):
        TaskConfig(name="skill_composition", n_tasks=5, compose_k=3, compose_test=2).validate()


def test_held_out_skill_pairs_are_learned_from_single_skills_and_other_pairs(tmp_path):
    from lab.report import build_report

    spec = Spec(task=TaskConfig(name="skill_composition", n_bits=12, k=2, n_tasks=6, compose_k=2, n_train=4000,
                                n_test=400, train_frac=0.5),
                model=ModelConfig(kind="mlp", width=128),
                train=TrainConfig(lr=3e-3, weight_decay=0.1, batch_size=500, steps=2000, log_every=500,
                                  checkpoints=1), name="compose")
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    first, last = (run.metrics[run.metrics.step == s].iloc[0] for s in (0, 2000))
    assert {"test_acc_k1", "test_acc_k2", "test_loss_k2"} <= set(run.metrics.columns)
    assert first.test_acc_k2 < 0.6 and last.train_acc > 0.95
    # 7 of the 15 pairs never trained together, answered from the skills (0.92 at step 1500 when written)
    assert last.test_acc_k2 > 0.85
    index = build_report(run.path).read_text()
    assert "![Skills: emergence and composition](skills.png)" in index and "Arora-Goyal prediction" in index
    assert "skill composition: 6 skills" in __import__("lab.report.describe", fromlist=["x"]).describe_task(spec.task)
