"""Weight trajectories: a group's parameters at every saved step, their norms, distances and joint PCA.

    from lab.analysis.trajectories import load_trajectory, param_norms, distances, trajectory_pca
    traj = load_trajectory(run, group=0)     # params: name -> [S, M, ...]
    pca = trajectory_pca(traj)               # every (step, model) point in one PCA basis
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd

from lab.errors import LabError


@dataclass(frozen=True)
class Trajectory:
    """The parameters of a group's models at its saved steps.

    Attributes:
        steps: the saved steps, increasing (length S).
        models: the global model indices of the group (length M).
        params: parameter name ("block_0_attn/W_Q") -> array [S, M, ...] of its values.
    """

    steps: list[int]
    models: tuple[int, ...]
    params: dict[str, np.ndarray]

    def __post_init__(self):
        """Check that every array is [S, M, ...] for these steps and models."""
        shape = (len(self.steps), len(self.models))
        if not self.params:
            raise LabError("a Trajectory needs at least one parameter array")
        for name, w in self.params.items():
            if tuple(np.shape(w)[:2]) != shape:
                raise LabError(f"parameter {name!r} has shape {np.shape(w)}; expected [S, M, ...] = {shape} + (...)")

    @property
    def names(self) -> list[str]:
        """The parameter names in the fixed (sorted) order that `flatten` concatenates them in."""
        return sorted(self.params)

    @property
    def n_params(self) -> int:
        """The number of scalar parameters P of one model."""
        return sum(int(np.prod(self.params[n].shape[2:], dtype=np.int64)) for n in self.names)


def _key_name(key) -> str:
    """One path entry of a pytree (dict key, attribute or index) as a string."""
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def flat_params(tree) -> dict[str, np.ndarray]:
    """A nested parameter pytree as a flat dict of numpy arrays with "/"-joined names."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(_key_name(k) for k in path): np.asarray(leaf) for path, leaf in leaves}


def load_trajectory(run, group: int = 0) -> Trajectory:
    """Stack a group's parameters at every saved step of a run into a `Trajectory`.

    Args:
        run: a `lab.Run` (from `lab.open(DIR)`).
        group: the index of the group in `run.groups`.

    Returns:
        A `Trajectory` with `steps = run.steps`, the group's global model indices, and each
        parameter as an array [S, M, ...] (S saved steps, M models of the group).
    """
    if not 0 <= group < len(run.groups):
        raise LabError(f"group {group} is not in this run; groups are 0..{len(run.groups) - 1}")
    steps = list(run.steps)
    if not steps:
        raise LabError(f"{run.path} has no saved steps; has `lab sweep` run into it?")
    per_step = [flat_params(run.state(step, group).params) for step in steps]
    params = {name: np.stack([p[name] for p in per_step]) for name in per_step[0]}
    return Trajectory(steps=steps, models=tuple(int(m) for m in run.groups[group].models), params=params)


def _long_frame(traj: Trajectory, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A table with a row per (step, model) from arrays [S, M] (step-major, then model)."""
    S, M = len(traj.steps), len(traj.models)
    table = {"step": np.repeat(np.asarray(traj.steps, np.int64), M), "model": np.tile(np.asarray(traj.models), S)}
    return pd.DataFrame(table | {k: np.asarray(v).reshape(S * M) for k, v in columns.items()})


def param_norms(traj: Trajectory) -> pd.DataFrame:
    """The Frobenius norm of every parameter of every model at every step.

    Args:
        traj: a `Trajectory`.

    Returns:
        A DataFrame with columns step, model, param, norm: one row per (step, model, param), plus
        a row per (step, model) with param "total", the norm of all of that model's parameters.
    """
    S, M = len(traj.steps), len(traj.models)
    norm_NxSxM = np.stack([
        np.linalg.norm(traj.params[n].reshape(S, M, -1).astype(np.float64), axis=-1) for n in traj.names
    ])
    total_SxM = np.sqrt(np.sum(norm_NxSxM**2, axis=0))
    frames = [_long_frame(traj, {"norm": norm_SxM}).assign(param=name)
              for name, norm_SxM in zip([*traj.names, "total"], [*norm_NxSxM, total_SxM])]
    table = pd.concat(frames, ignore_index=True)[["step", "model", "param", "norm"]]
    return table.sort_values(["step", "model"], kind="stable").reset_index(drop=True)


def flatten(traj: Trajectory) -> np.ndarray:
    """Every model's parameters at every step as one vector, in the order of `traj.names`.

    Args:
        traj: a `Trajectory`.

    Returns:
        An array w_SxMxP (steps x models x all P scalar parameters of a model, concatenated).
    """
    S, M = len(traj.steps), len(traj.models)
    return np.concatenate([traj.params[n].reshape(S, M, -1) for n in traj.names], axis=-1)


def distances(traj: Trajectory) -> pd.DataFrame:
    """How far each model's weights are from where they started and ended, and how they turn.

    Args:
        traj: a `Trajectory`.

    Returns:
        A DataFrame with a row per (step, model) and columns step, model, from_init (the L2
        distance of the flattened weights to those at the first saved step), from_final (to
        those at the last saved step) and cos_prev (the cosine similarity of the weights with
        those at the previous saved step; NaN at the first step).
    """
    w_SxMxP = flatten(traj)
    S, M = w_SxMxP.shape[:2]
    init_MxP, final_MxP = w_SxMxP[0].astype(np.float64), w_SxMxP[-1].astype(np.float64)
    from_init_SxM, from_final_SxM, cos_SxM = (np.full((S, M), np.nan) for _ in range(3))
    prev_MxP = None
    for s in range(S):  # one step at a time: O(M * P) extra memory
        w_MxP = w_SxMxP[s].astype(np.float64)
        from_init_SxM[s] = np.linalg.norm(w_MxP - init_MxP, axis=-1)
        from_final_SxM[s] = np.linalg.norm(w_MxP - final_MxP, axis=-1)
        if prev_MxP is not None:
            denom_M = np.linalg.norm(w_MxP, axis=-1) * np.linalg.norm(prev_MxP, axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                cos_SxM[s] = np.sum(w_MxP * prev_MxP, axis=-1) / denom_M
        prev_MxP = w_MxP
    return _long_frame(traj, {"from_init": from_init_SxM, "from_final": from_final_SxM, "cos_prev": cos_SxM})


@dataclass(frozen=True)
class PCAResult:
    """A PCA of a group's weight trajectories, fitted on every (step, model) point together.

    Attributes:
        components: the principal directions [k, P]: orthonormal rows (zero where no variance is left).
        explained_ratio: the share of the total variance each direction explains [k].
        mean: the mean of all points [P].
        coords: every point's coordinates along the directions [S, M, k].
    """

    components: np.ndarray
    explained_ratio: np.ndarray
    mean: np.ndarray
    coords: np.ndarray


def trajectory_pca(traj: Trajectory, n_components: int = 3) -> PCAResult:
    """A joint PCA of every model's flattened weights at every saved step.

    All S * M points of the group are centred on their common mean and decomposed together, so
    every model's trajectory lies in one basis and can be drawn in one plane. It uses the Gram
    trick (eigenvectors of the [S * M, S * M] matrix of centred dot products), so memory stays
    O(S * M * P) and P in the hundreds of thousands takes well under a second. Each direction's
    sign makes its largest-magnitude coordinate positive; directions along which the points do
    not vary (k beyond their rank) come back as zero rows with a zero ratio.

    Args:
        traj: a `Trajectory`.
        n_components: how many directions k to keep (at most S * M).

    Returns:
        A `PCAResult`; explained_ratio is relative to the variance of all S * M directions.
    """
    if n_components < 1:
        raise LabError(f"n_components must be at least 1 (got {n_components})")
    w_SxMxP = flatten(traj)
    S, M, P = w_SxMxP.shape
    x_NxP = w_SxMxP.reshape(S * M, P)
    mean_P = x_NxP.mean(axis=0, dtype=np.float64)
    xc_NxP = x_NxP - mean_P.astype(np.result_type(x_NxP.dtype, np.float32))
    gram_NxN = (xc_NxP @ xc_NxP.T).astype(np.float64)  # the Gram trick: an N x N eigenproblem, N = S * M
    eig_N, u_NxN = np.linalg.eigh(gram_NxN)
    order_N = np.argsort(eig_N)[::-1]
    eig_N, u_NxN = np.clip(eig_N[order_N], 0.0, None), u_NxN[:, order_N]
    k = min(n_components, S * M)
    sign_K = np.sign(u_NxN[np.argmax(np.abs(u_NxN[:, :k]), axis=0), np.arange(k)])
    u_NxK = u_NxN[:, :k] * np.where(sign_K == 0, 1.0, sign_K)[None, :]
    floor = np.finfo(xc_NxP.dtype).eps * S * M * eig_N[0]  # below it an eigenvalue is rounding noise
    live_K = eig_N[:k] > floor
    s_K = np.sqrt(np.where(live_K, eig_N[:k], 1.0))
    dirs_KxP = (u_NxK.T.astype(xc_NxP.dtype) @ xc_NxP) * (live_K / s_K)[:, None].astype(xc_NxP.dtype)
    total = eig_N.sum()
    return PCAResult(
        components=dirs_KxP,
        explained_ratio=eig_N[:k] / total if total > 0 else np.zeros(k),
        mean=mean_P,
        coords=(xc_NxP @ dirs_KxP.T).reshape(S, M, k),
    )
