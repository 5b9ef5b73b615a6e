"""Heuristic neurons (Nikankin et al. 2024, "Arithmetic without algorithms"): each neuron's activation
pattern over the operand grid, scored against families of simple patterns.

A family is a set of candidate patterns over the grid of operand pairs (a, b) (in `all_pairs` order):
- "result range": the result lies in a window [lo, hi) (several widths, every offset);
- "result residue": result = r mod m (m = 2..10);
- "operand range": a (or b) lies in a window;
- "operand residue": a (or b) = r mod m;
- "identical operands": a == b;
- "periodic": cos / sin of 2 pi k v / p for v = a, b or the result (scored with the best phase).

A neuron's score for a candidate is the Pearson correlation of its activations with the pattern over
the grid; its score for a family is the best candidate's; its class is the family it matches best.

    acts_GxF = ...                                   # activations over all_pairs(task), [G, F]
    table = score_neurons(acts_GxF, task)            # one row per neuron: family, pattern, score, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab.config import TaskConfig
from lab.tasks import all_pairs

FAMILIES = ("result range", "result residue", "operand range", "operand residue", "identical operands", "periodic")
MODULI = tuple(range(2, 11))
TIE = 1e-3  # scores this close count as equal


@dataclass(frozen=True)
class Candidates:
    """Candidate patterns over the grid: patterns_KxG (float), and each one's family and description."""

    patterns_KxG: np.ndarray
    family: tuple[str, ...]
    description: tuple[str, ...]
    pair_KxK: tuple[int, ...]  # for periodic cos candidates: the index of the matching sin (else -1)


def grid_values(task: TaskConfig) -> dict[str, np.ndarray]:
    """a, b and the result of every grid example, [G] int64 (the result itself for integer tasks)."""
    ab_Gx2, y_G = all_pairs(task)
    result_G = y_G.astype(np.int64) + (task.result_range()[0] if task.name == "integer" else 0)
    return {"a": ab_Gx2[:, 0].astype(np.int64), "b": ab_Gx2[:, 1].astype(np.int64), "result": result_G}


def _windows(values_G: np.ndarray, name: str) -> list[tuple[np.ndarray, str]]:
    low, high = int(values_G.min()), int(values_G.max()) + 1
    span, out = high - low, []
    for width in sorted({max(1, span // d) for d in (16, 8, 4, 2)}):
        for lo in range(low, high - width + 1, max(1, width // 2)):
            inside_G = (values_G >= lo) & (values_G < lo + width)
            out.append((inside_G.astype(np.float64), f"{name} in [{lo}, {lo + width})"))
    return out


def _residues(values_G: np.ndarray, name: str) -> list[tuple[np.ndarray, str]]:
    return [((values_G % m == r).astype(np.float64), f"{name} = {r} mod {m}") for m in MODULI for r in range(m)]


def candidates(task: TaskConfig) -> Candidates:
    """Every candidate pattern of every family for a table task (modular or integer arithmetic)."""
    v = grid_values(task)
    rows: list[tuple[np.ndarray, str, str]] = []
    rows += [(p, "result range", d) for p, d in _windows(v["result"], "result")]
    rows += [(p, "result residue", d) for p, d in _residues(v["result"], "result")]
    for name in ("a", "b"):
        rows += [(p, "operand range", d) for p, d in _windows(v[name], name)]
        rows += [(p, "operand residue", d) for p, d in _residues(v[name], name)]
    rows.append(((v["a"] == v["b"]).astype(np.float64), "identical operands", "a == b"))
    pair = [-1] * len(rows)
    for name in ("a", "b", "result"):
        for k in range(1, task.p // 2 + 1):
            angle_G = 2 * np.pi * k * v[name] / task.p
            pair.append(len(rows) + 1)
            rows.append((np.cos(angle_G), "periodic", f"{name}: frequency {k} (period {task.p / k:.3g})"))
            pair.append(-1)
            rows.append((np.sin(angle_G), "periodic", f"{name}: frequency {k} (sin)"))
    keep = [i for i, (p, _, _) in enumerate(rows) if p.std() > 1e-9]  # constant patterns (sin(pi a) = 0) say nothing
    remap = {old: new for new, old in enumerate(keep)}
    return Candidates(np.stack([rows[i][0] for i in keep]), tuple(rows[i][1] for i in keep),
                      tuple(rows[i][2] for i in keep), tuple(remap.get(pair[i], -1) for i in keep))


def _standardize(x_NxG: np.ndarray) -> np.ndarray:
    centred = x_NxG - x_NxG.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.where(norm > 0, norm, 1.0)


def candidate_scores(acts_GxF: np.ndarray, cands: Candidates) -> np.ndarray:
    """Correlation of every neuron with every candidate, [F, K]; periodic cos entries hold the best phase.

    For a cos / sin pair the score is sqrt(corr_cos^2 + corr_sin^2): the correlation with the best
    phase shift when cos and sin are orthogonal over the grid (exactly so on the full grid).
    """
    corr_FxK = _standardize(np.asarray(acts_GxF, np.float64).T) @ _standardize(cands.patterns_KxG).T
    pair = np.asarray(cands.pair_KxK)
    cos = np.flatnonzero(pair >= 0)
    corr_FxK[:, cos] = np.sqrt(np.square(corr_FxK[:, cos]) + np.square(corr_FxK[:, pair[cos]]))
    corr_FxK[:, pair[cos]] = 0.0  # each phase pair counted once
    return corr_FxK


def score_neurons(acts_GxF: np.ndarray, task: TaskConfig) -> pd.DataFrame:
    """Each neuron's best heuristic: family, pattern, score, and its best score in every family.

    Args:
        acts_GxF: activations over the grid in `all_pairs(task)` order, [G, F].
        task: a modular or integer task config.

    Returns:
        One row per neuron: neuron, family, pattern, score (a Pearson correlation in [-1, 1]; the
        best candidate maximizes it), dead (a neuron constant over the grid scores 0 everywhere),
        and one column per family with the neuron's best score in it.
    """
    cands = candidates(task)
    if acts_GxF.shape[0] != cands.patterns_KxG.shape[1]:
        raise ValueError(f"acts_GxF has {acts_GxF.shape[0]} rows; the grid of this task has "
                         f"{cands.patterns_KxG.shape[1]} (use all_pairs(task) order)")
    corr_FxK = candidate_scores(acts_GxF, cands)
    family = np.asarray(cands.family)
    # Ties go to the family listed first: for m | p a residue class mod m (m = 2, 3) *is* a cosine
    # of frequency p / m, and the residue is the plainer description.
    best_K = np.argmax(corr_FxK >= corr_FxK.max(axis=1, keepdims=True) - TIE, axis=1)
    table = pd.DataFrame({"neuron": np.arange(corr_FxK.shape[0]), "family": family[best_K],
                          "pattern": np.asarray(cands.description)[best_K],
                          "score": corr_FxK[np.arange(len(best_K)), best_K],
                          "dead": np.asarray(acts_GxF).std(axis=0) == 0})
    for name in FAMILIES:
        table[name] = corr_FxK[:, family == name].max(axis=1)
    return table


def top_prompt_labels(acts_GxF: np.ndarray, task: TaskConfig, top_fraction: float = 0.05, fit: float = 0.6,
                      max_base_rate: float = 0.3) -> pd.DataFrame:
    """Nikankin et al.'s labelling rule: a neuron implements a heuristic when at least `fit` of its
    top-activating prompts satisfy the rule.

    Only the binary families count (ranges, residues, identical operands; a periodic pattern is not a
    rule a prompt satisfies or not), and only rules true on at most max_base_rate of the grid: a
    rule as broad as "the result is below 60" fits 60% of any neuron's top prompts by chance. A neuron's top prompts are the grid examples whose activation is
    at least its value at the top_fraction quantile (ties included, so a neuron that is constant on a
    region keeps the whole region). Its label is the rule with the largest fit, and among rules that fit
    equally the most specific one (the smallest share of the grid, its `base_rate`): a window that
    contains all the top prompts and little else.

    Args:
        acts_GxF: activations over the grid in `all_pairs(task)` order, [G, F].
        task: a modular or integer task config.
        top_fraction: the share of the grid that counts as a neuron's top prompts.
        fit: the least share of the top prompts the rule must cover for a label.
        max_base_rate: the largest share of the grid a rule may cover.

    Returns:
        One row per neuron: neuron, n_top (its top prompts), family and pattern of the best rule, fit
        (the share of the top prompts it covers), base_rate (its share of the whole grid) and labelled
        (fit >= `fit` and the neuron is not constant).
    """
    cands = candidates(task)
    binary_K = np.asarray([f != "periodic" for f in cands.family]) & (cands.patterns_KxG.mean(axis=1) <= max_base_rate)
    rules_KxG = cands.patterns_KxG[binary_K] > 0.5
    acts_GxF = np.asarray(acts_GxF, np.float64)
    if acts_GxF.shape[0] != rules_KxG.shape[1]:
        raise ValueError(f"acts_GxF has {acts_GxF.shape[0]} rows; the grid of this task has {rules_KxG.shape[1]}")
    cut_F = np.quantile(acts_GxF, 1.0 - top_fraction, axis=0, method="higher")
    top_GxF = acts_GxF >= cut_F[None, :]
    n_top_F = top_GxF.sum(axis=0)
    fit_FxK = (top_GxF.T.astype(np.float64) @ rules_KxG.T) / n_top_F[:, None]
    base_K = rules_KxG.mean(axis=1)
    best_fit_F = fit_FxK.max(axis=1)
    tied_FxK = fit_FxK >= best_fit_F[:, None] - 1e-12
    best_K = np.argmin(np.where(tied_FxK, base_K[None, :], np.inf), axis=1)
    family, description = np.asarray(cands.family)[binary_K], np.asarray(cands.description)[binary_K]
    alive_F = acts_GxF.std(axis=0) > 0
    return pd.DataFrame({"neuron": np.arange(acts_GxF.shape[1]), "n_top": n_top_F, "family": family[best_K],
                         "pattern": description[best_K], "fit": best_fit_F, "base_rate": base_K[best_K],
                         "labelled": (best_fit_F >= fit) & alive_F})
