"""lab.tasks.composition: skill-composition labels and held-out tuples, and held-out pairs learned from the
others."""

from __future__ import annotations

import dataclasses

import numpy as np

import lab
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.launch.runner import run_sweep


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
