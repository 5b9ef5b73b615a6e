"""Fourier analysis over Z_p: the real basis, spectra of weights, key frequencies, 2-D transforms.

Array functions are pure jnp for one model (p and the configs static), so they can be
`jax.vmap`ped over a leading model axis and over saved steps; `key_frequencies` is host-side
numpy. The grid-level functions (neuron activations, logits, `summarize`) are in
`lab.analysis.neurons_fourier`; `lab.analysis` re-exports both.

    basis_PxP, names = fourier_basis(p)
    norms_K = frequency_norms(embedding_weights(run.model(0))["embed"], p)   # or (params, spec)
    freqs, fraction = key_frequencies(np.asarray(norms_K))

Frequencies run k = 0..K with K = p // 2: (p - 1) // 2 for odd p; for even p the Nyquist
frequency p / 2 is frequency K and has only a cos row.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lab import models
from lab.analysis.target import params_and_spec
from lab.config import ModelConfig, Spec, TaskConfig
from lab.errors import LabError

HIGHEST = jax.lax.Precision.HIGHEST  # the transforms are exact rotations: no TF32/bf16 passes


def basis_frequencies(p: int) -> np.ndarray:
    """The frequency of each row of `fourier_basis(p)`.

    Args:
        p: the modulus.

    Returns:
        int array [p]: 0 for the constant row, then k, k for the cos and sin rows of
        k = 1..(p - 1) // 2, then p // 2 for the Nyquist cos row when p is even.
    """
    freq_P = np.concatenate([[0], np.repeat(np.arange(1, (p - 1) // 2 + 1), 2)])
    if p % 2 == 0:
        freq_P = np.concatenate([freq_P, [p // 2]])
    return freq_P.astype(np.int32)


def fourier_basis(p: int) -> tuple[jax.Array, list[str]]:
    """The real orthonormal Fourier basis of Z_p, one basis vector per row.

    Rows: the constant 1/sqrt(p); for k = 1..(p - 1) // 2 the rows cos(2 pi k x / p) and
    sin(2 pi k x / p), each scaled to unit norm; for even p, the Nyquist row cos(pi x).
    `basis_PxP @ basis_PxP.T` is the identity; `basis_PxP @ f_P` are f's coefficients.

    Args:
        p: the modulus (>= 2).

    Returns:
        (basis_PxP, names): float32 rows and their names ["const", "cos 1", "sin 1", ...].
    """
    x_P = np.arange(p, dtype=np.float64)
    rows, names = [np.ones(p)], ["const"]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [np.cos(2 * np.pi * k * x_P / p), np.sin(2 * np.pi * k * x_P / p)]
        names += [f"cos {k}", f"sin {k}"]
    if p % 2 == 0:
        rows.append(np.cos(np.pi * x_P))
        names.append(f"cos {p // 2}")
    basis_PxP = np.stack(rows)
    basis_PxP /= np.linalg.norm(basis_PxP, axis=1, keepdims=True)
    return jnp.asarray(basis_PxP, jnp.float32), names


def _freq_onehot(p: int) -> jax.Array:
    """[p, K + 1] indicator of each basis row's frequency, to sum squares per frequency."""
    freq_P = basis_frequencies(p)
    return jnp.asarray(freq_P[:, None] == np.arange(p // 2 + 1)[None, :], jnp.float32)


def frequency_norms(w_PxW: jax.Array, p: int) -> jax.Array:
    """The norm of each frequency of the Fourier transform of w along its first axis.

    The cos and sin rows of a frequency are combined: norm_k = sqrt(sum over the rows of
    frequency k and every column of (basis @ w)^2). Their squares sum to |w|^2.

    Args:
        w_PxW: a weight [p, W] (or [p], or [p, ...]) indexed by an element of Z_p.
        p: the modulus.

    Returns:
        norm_K [K + 1] for k = 0..K, K = p // 2.
    """
    if w_PxW.shape[0] != p:
        raise ValueError(f"frequency_norms needs a first axis of length p = {p} (got shape {w_PxW.shape})")
    basis_PxP, _ = fourier_basis(p)
    coef_PxW = jnp.matmul(basis_PxP, w_PxW.reshape(p, -1).astype(jnp.float32), precision=HIGHEST)
    sq_P = jnp.sum(jnp.square(coef_PxW), axis=-1)
    return jnp.sqrt(jnp.matmul(sq_P, _freq_onehot(p), precision=HIGHEST))


def key_frequencies(norms_K: Any, coverage: float = 0.9) -> tuple[list[int], float]:
    """The fewest frequencies k >= 1 whose share of the non-constant squared norm reaches coverage.

    Host-side numpy: frequencies are ranked by squared norm, and the smallest top set whose
    squares sum to at least `coverage` of sum_{k >= 1} norm_k^2 is taken.

    Args:
        norms_K: [K + 1] frequency norms (from `frequency_norms`), k = 0 first; k = 0 is ignored.
        coverage: the share of the non-constant squared norm to explain, in (0, 1].

    Returns:
        (freqs, fraction): the chosen frequencies in increasing order and the share they explain.
        An all-zero spectrum gives ([], 0.0).
    """
    norms_K = np.asarray(norms_K, np.float64)
    if norms_K.ndim != 1:
        raise ValueError(f"key_frequencies takes one spectrum [K + 1] (got shape {norms_K.shape}); loop on the host")
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1] (got {coverage})")
    sq_K = np.square(norms_K[1:])
    total = sq_K.sum()
    if total <= 0:
        return [], 0.0
    order_K = np.argsort(-sq_K, kind="stable")
    share_K = np.cumsum(sq_K[order_K]) / total
    n = int(np.searchsorted(share_K, coverage * (1 - 1e-9))) + 1  # tolerance: coverage 1.0 reachable
    n = min(n, len(order_K))
    return sorted(int(k) + 1 for k in order_K[:n]), float(share_K[n - 1])


def _check_modular(task_cfg: TaskConfig) -> None:
    """Raise LabError unless the task is modular arithmetic (the only one over Z_p)."""
    if task_cfg.name != "modular":
        raise LabError(f"Fourier analysis needs task.name = 'modular' (got {task_cfg.name!r})")


def _embedding_weights(params: dict[str, Any], model_cfg: ModelConfig, task_cfg: TaskConfig) -> dict[str, jax.Array]:
    """What each operand position sees: a [p, W] weight per operand, indexed by its value.

    Transformer: {"embed": W_E[:p]} (the '=' row dropped; both operands share it). MLP: the
    embedding times the input projection W_in [E_in, F], i.e. the first layer's input from an
    operand: combine "concat" gives {"a": e @ W_in[:E], "b": e @ W_in[E:]}, combine "sum"
    gives {"a": e @ W_in} (shared by both operands); e is W_E (learned), the identity (onehot,
    so rows of W_in) or the [p, 2] circle table (circle).

    Args:
        params: one model's parameters (a nested dict, as from `Run.params`).
        model_cfg: the model config (static).
        task_cfg: the task config (a modular task; static).

    Returns:
        A dict of [p, W] arrays: W = d_model (transformer) or the hidden width (MLP).
    """
    _check_modular(task_cfg)
    p = task_cfg.p
    if model_cfg.kind == "transformer":
        return {"embed": params["W_E"][:p]}
    w_in_IxF = params["W_in"]
    fixed = models.fixed_embedding(model_cfg, task_cfg)
    e_PxE = params["W_E"] if fixed is None else fixed.astype(w_in_IxF.dtype)
    n_e = e_PxE.shape[-1]
    proj_a_PxF = jnp.matmul(e_PxE, w_in_IxF[:n_e], precision=HIGHEST)
    if model_cfg.combine == "sum":
        return {"a": proj_a_PxF}
    return {"a": proj_a_PxF, "b": jnp.matmul(e_PxE, w_in_IxF[n_e:], precision=HIGHEST)}


def fourier_2d(act_PxPxN: jax.Array, p: int) -> jax.Array:
    """The 2-D Fourier transform basis @ A @ basis^T of every channel of a grid over (a, b).

    Args:
        act_PxPxN: values on the grid [p, p, N] (neurons, logit classes; or [p, p]).
        p: the modulus.

    Returns:
        coef_PxPxN: coef[i, j, n] = sum_ab basis[i, a] A[a, b, n] basis[j, b]; row i is the
        frequency component in a, column j in b (see `basis_frequencies`). The inverse is
        basis^T @ C @ basis.
    """
    basis_PxP, _ = fourier_basis(p)
    return jnp.einsum("ia,ab...,jb->ij...", basis_PxP, act_PxPxN.astype(jnp.float32), basis_PxP, precision=HIGHEST)


def neuron_frequencies(coef_PxPxN: jax.Array, p: int) -> tuple[jax.Array, jax.Array]:
    """Per channel, the frequency k >= 1 that explains most of its non-constant variance.

    Frequency k explains the squared coefficients (i, j) != (0, 0) whose row and column
    frequencies are each 0 or k: the terms in a alone, in b alone, and their products. Its
    fraction is that sum over the sum of every squared coefficient but (0, 0).

    Args:
        coef_PxPxN: 2-D Fourier coefficients [p, p, N] (from `fourier_2d`).
        p: the modulus.

    Returns:
        (dominant_N, fraction_N): int32 frequencies in 1..K and float32 fractions in [0, 1]
        (0 for a constant channel).
    """
    onehot_PxK = _freq_onehot(p)
    sq_PxPxN = jnp.square(coef_PxPxN.reshape(p, p, -1))
    block_KxKxN = jnp.einsum("ik,ijn,jl->kln", onehot_PxK, sq_PxPxN, onehot_PxK, precision=HIGHEST)
    diag_KxN = jnp.diagonal(block_KxKxN, axis1=0, axis2=1).T  # (k, k): a and b both at k
    explained_KxN = (block_KxKxN[0] + block_KxKxN[:, 0] + diag_KxN)[1:]  # (0, k), (k, 0), (k, k); k >= 1
    total_N = jnp.sum(sq_PxPxN, axis=(0, 1)) - sq_PxPxN[0, 0]
    best_N = jnp.argmax(explained_KxN, axis=0)
    top_N = jnp.max(explained_KxN, axis=0)
    fraction_N = jnp.where(total_N > 0, top_N / jnp.where(total_N > 0, total_N, 1.0), 0.0)
    dominant_N, fraction_N = (best_N + 1).astype(jnp.int32), jnp.clip(fraction_N, 0.0, 1.0)
    shape = coef_PxPxN.shape[2:]
    return dominant_N.reshape(shape), fraction_N.reshape(shape)


def embedding_weights(model: Any, spec: Spec | None = None) -> dict[str, jax.Array]:
    """The weights that read each operand value, [p, W] per entry, whose Fourier spectra show its frequencies.

    Transformer: {"embed": W_E[:p]} (the '=' row dropped; both operands share it). MLP: the first layer's
    weights per operand (or the learned embedding). model: `run.model(i, step)`, or params with their
    `spec`; pure jnp, so it vmaps over a stack of params with one spec.
    """
    params, spec = params_and_spec(model, spec)
    return _embedding_weights(params, spec.model, spec.task)
