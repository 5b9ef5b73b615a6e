"""lab.analysis.trajectories: norms, distances and the joint PCA of weight trajectories."""

from __future__ import annotations

import numpy as np
import pytest

import lab
from lab.analysis.trajectories import (
    Trajectory,
    distances,
    flatten,
    load_trajectory,
    param_norms,
    trajectory_pca,
)
from lab.errors import LabError
from lab.launch.runner import run_sweep
from tests.helpers import tiny_spec


def _split(w_SxMxP: np.ndarray, steps=None) -> Trajectory:
    """A Trajectory of two parameters ("a/w" a matrix, "b" a vector) cut from flat weights."""
    S, M, P = w_SxMxP.shape
    steps = list(range(S)) if steps is None else steps
    params = {"b": w_SxMxP[..., 6:], "a/w": w_SxMxP[..., :6].reshape(S, M, 2, 3)}
    return Trajectory(steps=steps, models=tuple(range(10, 10 + M)), params=params)


def _line(t_S, w0_MxP, d_MxP) -> np.ndarray:
    """Points w0 + t * d for every t and model: [S, M, P]."""
    return w0_MxP[None] + t_S[:, None, None] * d_MxP[None]


def test_flatten_is_fixed_order_and_round_trips():
    w_SxMxP = np.random.default_rng(0).normal(size=(4, 3, 10))
    traj = _split(w_SxMxP)
    assert traj.names == ["a/w", "b"] and traj.n_params == 10
    np.testing.assert_array_equal(flatten(traj), w_SxMxP)
    with pytest.raises(LabError, match="expected"):
        Trajectory(steps=[0, 1], models=(0,), params={"x": np.zeros((3, 1, 2))})


def test_pca_of_one_line_needs_one_component():
    rng = np.random.default_rng(1)
    t_S = np.linspace(0.0, 5.0, 12)
    d_P = rng.normal(size=10)
    w0_MxP = np.stack([rng.normal(size=10)] * 3)
    w0_MxP[1] += 2.0 * d_P  # three models on the same line, at different places
    w_SxMxP = _line(t_S, w0_MxP, np.stack([d_P] * 3))
    pca = trajectory_pca(_split(w_SxMxP), n_components=3)
    assert pca.components.shape == (3, 10) and pca.coords.shape == (12, 3, 3) and pca.mean.shape == (10,)
    assert pca.explained_ratio[0] > 0.999
    np.testing.assert_allclose(abs(pca.components[0] @ d_P) / np.linalg.norm(d_P), 1.0, atol=1e-9)
    np.testing.assert_allclose(pca.explained_ratio[1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(pca.components[1:], 0.0)  # no variance left: zero rows
    rebuilt_SxMxP = pca.mean + pca.coords[..., :1] * pca.components[None, None, 0]
    np.testing.assert_allclose(rebuilt_SxMxP, w_SxMxP, atol=1e-8)


def test_pca_of_two_orthogonal_lines_needs_two_components():
    t_S = np.linspace(0.0, 1.0, 9)
    d_MxP = np.zeros((2, 10))
    d_MxP[0, 0], d_MxP[1, 7] = 1.0, 1.0
    w0_MxP = np.tile(np.random.default_rng(2).normal(size=10), (2, 1))
    pca = trajectory_pca(_split(_line(t_S, w0_MxP, d_MxP)), n_components=3)
    assert pca.explained_ratio[0] < 0.99
    assert pca.explained_ratio[0] + pca.explained_ratio[1] > 0.999
    assert pca.explained_ratio[2] < 1e-12
    span = pca.components[:2]  # orthonormal, spanning the two directions
    np.testing.assert_allclose(span @ span.T, np.eye(2), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(span @ d_MxP.T, axis=0), 1.0, atol=1e-9)


def test_pca_keeps_at_most_as_many_components_as_points():
    pca = trajectory_pca(_split(np.random.default_rng(3).normal(size=(2, 1, 10))), n_components=5)
    assert pca.components.shape == (2, 10) and pca.coords.shape == (2, 1, 2)
    np.testing.assert_allclose(np.linalg.norm(pca.components, axis=1), [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(pca.explained_ratio.sum(), 1.0)


def test_distances_along_a_line():
    rng = np.random.default_rng(4)
    t_S = np.linspace(0.0, 1.0, 6)
    w_SxMxP = _line(t_S, rng.normal(size=(2, 10)), rng.normal(size=(2, 10)))
    table = distances(_split(w_SxMxP, steps=[0, 10, 20, 40, 80, 160]))
    assert list(table.columns) == ["step", "model", "from_init", "from_final", "cos_prev"]
    assert len(table) == 12 and set(table.model) == {10, 11}
    for _, part in table.groupby("model"):
        assert part.from_init.iloc[0] == 0 and part.from_final.iloc[-1] == 0
        assert np.all(np.diff(part.from_init) > 0) and np.all(np.diff(part.from_final) < 0)
        np.testing.assert_allclose(part.from_init + part.from_final, part.from_init.iloc[-1])
        assert np.isnan(part.cos_prev.iloc[0]) and np.all(np.abs(part.cos_prev.iloc[1:]) <= 1 + 1e-12)


def test_cos_prev_is_one_for_tiny_steps_far_from_the_origin():
    rng = np.random.default_rng(5)
    w_SxMxP = _line(np.linspace(0.0, 1e-3, 5), 100.0 + rng.normal(size=(3, 10)), rng.normal(size=(3, 10)))
    cos = distances(_split(w_SxMxP)).cos_prev.to_numpy().reshape(5, 3)
    assert np.all(np.isnan(cos[0]))
    np.testing.assert_allclose(cos[1:], 1.0, atol=1e-9)


def test_param_norms_total_is_the_norm_of_all_parameters():
    w_SxMxP = np.random.default_rng(6).normal(size=(3, 2, 10))
    table = param_norms(_split(w_SxMxP, steps=[0, 5, 9]))
    assert list(table.columns) == ["step", "model", "param", "norm"]
    assert len(table) == 3 * 2 * 3 and set(table.param) == {"a/w", "b", "total"}
    wide = table.pivot_table(index=["step", "model"], columns="param", values="norm")
    np.testing.assert_allclose(wide["total"], np.sqrt(wide["a/w"] ** 2 + wide["b"] ** 2))
    np.testing.assert_allclose(wide["total"].to_numpy(), np.linalg.norm(w_SxMxP, axis=-1).reshape(-1))
    one = table[(table.step == 5) & (table.model == 11) & (table.param == "b")].norm.item()
    np.testing.assert_allclose(one, np.linalg.norm(w_SxMxP[1, 1, 6:]))


def test_on_a_tiny_real_run(tmp_path):
    run = lab.open(run_sweep(tiny_spec(seeds=2), tmp_path / "r", progress=False))
    traj = load_trajectory(run)
    S = len(run.steps)
    assert S == 4 and traj.steps == run.steps and traj.models == tuple(run.groups[0].models)
    assert all(w.shape[:2] == (S, 2) for w in traj.params.values())
    some = traj.names[0]
    model, step = traj.models[1], traj.steps[-1]
    nested = run.params(model, step)
    for part in some.split("/"):
        nested = nested[part]
    np.testing.assert_array_equal(traj.params[some][-1, 1], nested)
    P = traj.n_params
    assert flatten(traj).shape == (S, 2, P)
    norms = param_norms(traj)
    assert len(norms) == S * 2 * (len(traj.names) + 1) and np.all(np.isfinite(norms.norm))
    dist = distances(traj)
    assert len(dist) == S * 2 and np.all(dist.from_init.iloc[2:] > 0)
    pca = trajectory_pca(traj, n_components=3)
    assert pca.components.shape == (3, P) and pca.coords.shape == (S, 2, 3) and pca.mean.shape == (P,)
    assert np.all(np.diff(pca.explained_ratio) <= 0) and 0 < pca.explained_ratio.sum() <= 1 + 1e-6
    with pytest.raises(LabError, match="group 3"):
        load_trajectory(run, group=3)
