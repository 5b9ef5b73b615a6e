"""The random skills-and-text bipartite graph of Arora and Goyal 2023 ("A Theory for Emergence of Complex
Skills and Skills Composition in Language Models", arXiv 2307.15936): simulated, in closed form, and used
to predict competence on k'-tuples of skills from a measured error.

The framework, as we read it:

- There are S skills and T text pieces; each piece uses a uniformly random k-subset of distinct skills.
- A model lacks a set Y of m skills and fails exactly the pieces that use a skill in Y (optionally also
  each piece independently with a small noise probability). Its piece error is then, in expectation,
  theta(m) = 1 - C(S-m, k) / C(S, k), the probability that a random k-subset misses Y.
- A skill's competence is the fraction of its pieces the model does not fail: 0 for a skill in Y
  (without noise), C(S-1-m, k-1) / C(S-1, k-1) in expectation for a skill outside Y.
- Competence on a random k'-tuple of distinct skills, a combination perhaps never seen in training, is
  the probability that the tuple misses Y: C(S-m, k') / C(S, k'), about (1 - m/S)^k' for small m/S.
  Reading the skills as independent with single-skill error eps gives (1 - eps)^k' instead.
- The "slingshot": a piece exercises k skills, so a piece error theta means only about m/S = theta/k of
  the skills are lacking, and competence on k'-tuples is about (1 - theta/k)^k', high for k' <= k once
  theta is small. Halving theta gives the same competence on tuples twice as long.

Caveat: this is our reading of the paper's statistical framework, and it is average-case (a lacking set
drawn independently of the graph), not the paper's worst-case bound through the mixing lemma, which
holds for every failed set of a given size at once.

    from lab.analysis import skill_graph as sg
    graph = sg.random_graph(n_skills=1000, n_pieces=100_000, k=4)
    sg.predict_tuple_competence([1, 2, 4, 8], n_skills=1000, piece_error=0.04, k=4)  # from a measured error
    sim = sg.simulate(1000, 100_000, k=4, lacking_fraction=0.01, k_primes=[1, 2, 4, 8])  # vs theory
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SkillGraph:
    """S skills and T text pieces; row t of pieces_TxK holds the k distinct skills piece t uses, sorted."""

    n_skills: int
    pieces_TxK: np.ndarray  # int32


@dataclass(frozen=True)
class Simulation:
    """One simulated model next to the closed forms (the *_theory fields) for the same S, T, k, m."""

    n_lacking: int  # m, the size of the lacking set Y
    piece_error: float  # fraction of failed pieces
    piece_error_theory: float
    competence_outside: float  # mean competence of the skills outside Y (NaN if there are none)
    competence_outside_theory: float
    competence_inside: float  # mean competence of the skills in Y (0 without noise; NaN if Y is empty)
    k_primes: np.ndarray  # [K']
    tuple_competence: np.ndarray  # [K'] fraction of random k'-tuples that miss Y
    tuple_competence_theory: np.ndarray  # [K'] C(S-m, k') / C(S, k') with the true m
    tuple_competence_predicted: np.ndarray  # [K'] predicted from the measured piece error alone


def _random_subsets(rng: np.random.Generator, n_skills: int, n_rows: int, k: int) -> np.ndarray:
    """Uniform k-subsets of range(n_skills), one per row, sorted: Floyd's algorithm, vectorized over rows."""
    chosen_RxK = np.empty((n_rows, k), np.int32)
    for i, j in enumerate(range(n_skills - k, n_skills)):
        pick_R = rng.integers(0, j + 1, n_rows)
        taken_R = (chosen_RxK[:, :i] == pick_R[:, None]).any(axis=1)
        chosen_RxK[:, i] = np.where(taken_R, j, pick_R)
    return np.sort(chosen_RxK, axis=1)


def _check_counts(n_skills: int, m: float, k: int) -> None:
    """Raise ValueError unless 0 <= m <= n_skills and 0 <= k <= n_skills."""
    if not 0 <= m <= n_skills:
        raise ValueError(f"the number of lacking skills must lie in [0, {n_skills}] (got {m})")
    if not 0 <= k <= n_skills:
        raise ValueError(f"a tuple or piece must use between 0 and {n_skills} skills (got k={k})")


def _mean_or_nan(values: np.ndarray) -> float:
    """Mean of the finite entries, NaN if there are none."""
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def random_graph(n_skills: int, n_pieces: int, k: int, seed: int = 0) -> SkillGraph:
    """Draw the bipartite graph: every piece uses a uniformly random k-subset of the skills.

    Args:
        n_skills: S.
        n_pieces: T.
        k: skills per piece, 1 <= k <= S.
        seed: seed of the numpy Generator.

    Returns:
        A SkillGraph whose pieces_TxK rows are independent uniform k-subsets, sorted.
    """
    if k < 1 or k > n_skills:
        raise ValueError(f"k must lie in [1, n_skills={n_skills}] (got {k})")
    if n_pieces < 1:
        raise ValueError(f"n_pieces must be at least 1 (got {n_pieces})")
    return SkillGraph(n_skills, _random_subsets(np.random.default_rng(seed), n_skills, n_pieces, k))


def skill_degrees(graph: SkillGraph) -> np.ndarray:
    """The number of pieces that use each skill.

    Args:
        graph: the skills-and-text graph.

    Returns:
        [S] int degrees; they sum to T k.
    """
    return np.bincount(graph.pieces_TxK.ravel(), minlength=graph.n_skills)


def failed_pieces(graph: SkillGraph, lacking_S: np.ndarray, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """The pieces a model lacking the skills in lacking_S fails.

    Args:
        graph: the skills-and-text graph.
        lacking_S: [S] bool, True for the skills in Y.
        noise: probability of failing a piece anyway, independently per piece.
        seed: seed of the noise.

    Returns:
        [T] bool, True where the piece uses a skill in Y (or the noise struck).
    """
    lacking_S = np.asarray(lacking_S, bool)
    if lacking_S.shape != (graph.n_skills,):
        raise ValueError(f"lacking_S must have shape ({graph.n_skills},) (got {lacking_S.shape})")
    if not 0 <= noise <= 1:
        raise ValueError(f"noise must be a probability (got {noise})")
    failed_T = lacking_S[graph.pieces_TxK].any(axis=1)
    return failed_T | (np.random.default_rng(seed).random(len(failed_T)) < noise)


def skill_competence(graph: SkillGraph, failed_T: np.ndarray) -> np.ndarray:
    """Each skill's competence: the fraction of the pieces that use it which the model does not fail.

    Args:
        graph: the skills-and-text graph.
        failed_T: [T] bool, the failed pieces.

    Returns:
        [S] float in [0, 1]; NaN for skills no piece uses.
    """
    failed_T = np.asarray(failed_T, bool)
    n_pieces, k = graph.pieces_TxK.shape
    if failed_T.shape != (n_pieces,):
        raise ValueError(f"failed_T must have shape ({n_pieces},) (got {failed_T.shape})")
    passed_S = np.bincount(graph.pieces_TxK.ravel(), weights=np.repeat(~failed_T, k), minlength=graph.n_skills)
    degree_S = skill_degrees(graph)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(degree_S > 0, passed_S / degree_S, np.nan)


def tuple_competence_sim(lacking_S: np.ndarray, k_prime: int, n_tuples: int = 10000, seed: int = 0) -> float:
    """Measured competence on k'-tuples: the fraction of random k'-tuples of distinct skills that miss Y.

    Args:
        lacking_S: [S] bool, True for the skills in Y.
        k_prime: skills per tuple, 1 <= k' <= S.
        n_tuples: how many tuples to draw (uniformly, whether or not they occur together in a piece).
        seed: seed of the numpy Generator.

    Returns:
        The fraction of the tuples with no skill in Y.
    """
    lacking_S = np.asarray(lacking_S, bool)
    if k_prime < 1 or k_prime > len(lacking_S):
        raise ValueError(f"k_prime must lie in [1, {len(lacking_S)}] (got {k_prime})")
    tuples_NxK = _random_subsets(np.random.default_rng(seed), len(lacking_S), n_tuples, k_prime)
    return float(1 - lacking_S[tuples_NxK].any(axis=1).mean())


def expected_degree(n_skills: int, n_pieces: int, k: int) -> float:
    """The expected number of pieces per skill.

    Args:
        n_skills: S.
        n_pieces: T.
        k: skills per piece.

    Returns:
        T k / S (each skill's degree is Binomial(T, k / S)).
    """
    return n_pieces * k / n_skills


def avoid_probability(n_skills: int, m: float, k: int) -> float:
    """The probability that a uniform k-subset of the S skills misses a fixed set of m skills.

    Args:
        n_skills: S.
        m: the number of lacking skills, 0 <= m <= S; a fractional m uses the continuous extension
            prod_{i<k} max(S - m - i, 0) / (S - i), which is decreasing in m.
        k: subset size, 0 <= k <= S.

    Returns:
        C(S-m, k) / C(S, k) for integer m; 0 once m > S - k.
    """
    _check_counts(n_skills, m, k)
    i_K = np.arange(k)
    return float(np.prod(np.maximum(n_skills - m - i_K, 0) / (n_skills - i_K)))


def expected_piece_error(n_skills: int, m: float, k: int) -> float:
    """The expected fraction of failed pieces for a model lacking m skills (no noise).

    Args:
        n_skills: S.
        m: the number of lacking skills (fractional allowed, see avoid_probability).
        k: skills per piece.

    Returns:
        theta(m) = 1 - C(S-m, k) / C(S, k).
    """
    return 1 - avoid_probability(n_skills, m, k)


def expected_competence_outside(n_skills: int, m: float, k: int) -> float:
    """The expected competence of a skill outside the lacking set (no noise).

    Args:
        n_skills: S.
        m: the number of lacking skills (fractional allowed, see avoid_probability).
        k: skills per piece, k >= 1.

    Returns:
        C(S-1-m, k-1) / C(S-1, k-1): the piece's other k-1 skills must all miss Y. NaN if m > S - 1.
    """
    _check_counts(n_skills, m, k)
    if k < 1:
        raise ValueError(f"k must be at least 1 (got {k})")
    if m > n_skills - 1:
        return float("nan")  # no skill lies outside Y
    return avoid_probability(n_skills - 1, m, k - 1)


def lacking_from_piece_error(theta: float, n_skills: int, k: int) -> float:
    """Invert expected_piece_error: the number of lacking skills implied by a measured piece error.

    Args:
        theta: measured fraction of failed pieces, in [0, 1].
        n_skills: S.
        k: skills per piece, 1 <= k <= S.

    Returns:
        The (fractional) count m >= 0 with expected_piece_error(S, m, k) = theta, found by bisection
        on the continuous extension; 0 for theta = 0, S - k + 1 (the least m with error 1) for theta = 1.
        Divide by S for the fraction of lacking skills.
    """
    if not 0 <= theta <= 1:
        raise ValueError(f"theta must be a fraction of pieces in [0, 1] (got {theta})")
    if k < 1 or k > n_skills:
        raise ValueError(f"k must lie in [1, n_skills={n_skills}] (got {k})")
    low, high = 0.0, float(n_skills - k + 1)
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if avoid_probability(n_skills, mid, k) > 1 - theta else (low, mid)
    return 0.0 if theta == 0 else high


def predict_tuple_competence(k_primes, n_skills: int, piece_error: float | None = None, k: int | None = None,
                             skill_error: float | None = None) -> np.ndarray:
    """Predicted competence on random k'-tuples of skills from one measured error.

    Give either piece_error with k (the error on training pieces of k skills: infer m, then
    C(S-m, k') / C(S, k') with the fractional m), or skill_error (independent skills: (1 - eps)^k').

    Args:
        k_primes: tuple sizes, each >= 1 (and <= S with piece_error).
        n_skills: S.
        piece_error: measured fraction theta of failed training pieces.
        k: skills per training piece; required with piece_error, not allowed without it.
        skill_error: measured single-skill error eps.

    Returns:
        [K'] float competences.
    """
    k_primes = np.atleast_1d(np.asarray(k_primes))
    if (piece_error is None) == (skill_error is None):
        raise ValueError("give exactly one of piece_error (with k) and skill_error")
    if (piece_error is None) != (k is None):
        raise ValueError("k (skills per piece) goes with piece_error, and only with it")
    if k_primes.size == 0 or (k_primes < 1).any():
        raise ValueError(f"k_primes must be tuple sizes >= 1 (got {k_primes.tolist()})")
    if skill_error is not None:
        if not 0 <= skill_error <= 1:
            raise ValueError(f"skill_error must lie in [0, 1] (got {skill_error})")
        return (1 - skill_error) ** k_primes.astype(np.float64)
    m = lacking_from_piece_error(piece_error, n_skills, k)
    return np.array([avoid_probability(n_skills, m, int(kp)) for kp in k_primes])


def simulate(n_skills: int, n_pieces: int, k: int, lacking_fraction: float, k_primes,
             seed: int = 0) -> Simulation:
    """Simulate one model on a random graph and set it beside the closed forms.

    Args:
        n_skills: S.
        n_pieces: T.
        k: skills per piece.
        lacking_fraction: the model lacks a uniformly random set of round(fraction * S) skills.
        k_primes: tuple sizes at which to measure and predict competence.
        seed: seeds the graph, the lacking set and the tuples (independently).

    Returns:
        A Simulation: measured piece error and competences, the closed forms for the true m, and the
        k'-tuple competence predicted from the measured piece error alone.
    """
    if not 0 <= lacking_fraction <= 1:
        raise ValueError(f"lacking_fraction must lie in [0, 1] (got {lacking_fraction})")
    graph_seed, lacking_seed, tuple_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))
    graph = random_graph(n_skills, n_pieces, k, graph_seed)
    m = round(lacking_fraction * n_skills)
    lacking_S = np.zeros(n_skills, bool)
    lacking_S[np.random.default_rng(lacking_seed).choice(n_skills, m, replace=False)] = True
    failed_T = failed_pieces(graph, lacking_S)
    competence_S = skill_competence(graph, failed_T)
    k_primes = np.atleast_1d(np.asarray(k_primes))
    return Simulation(
        n_lacking=m,
        piece_error=float(failed_T.mean()),
        piece_error_theory=expected_piece_error(n_skills, m, k),
        competence_outside=_mean_or_nan(competence_S[~lacking_S]),
        competence_outside_theory=expected_competence_outside(n_skills, m, k),
        competence_inside=_mean_or_nan(competence_S[lacking_S]),
        k_primes=k_primes,
        tuple_competence=np.array([tuple_competence_sim(lacking_S, int(kp), seed=tuple_seed) for kp in k_primes]),
        tuple_competence_theory=np.array([avoid_probability(n_skills, m, int(kp)) for kp in k_primes]),
        tuple_competence_predicted=predict_tuple_competence(k_primes, n_skills, piece_error=float(failed_T.mean()),
                                                            k=k),
    )


def _guess_probability(j: int, rule: str) -> float:
    """The chance of a right answer when j of the tuple's skills are guessed (fair coins)."""
    if rule == "xor":
        return 1.0 if j == 0 else 0.5
    return math.comb(j, j // 2) / 2**j  # the count of j fair coins: guess its mode


def tuple_accuracy(n_skills: int, m: float, k_prime: int, rule: str = "count") -> float:
    """Expected accuracy on random k'-tuples for a model that lacks m skills and guesses their answers.

    The lab's skill-composition task scores a tuple's label (how many of its skills answer 1, or their
    parity), so a tuple that uses j lacking skills is still right by chance: with probability
    C(j, floor(j/2)) / 2^j for "count" (the mode of j fair coins), 1/2 for "xor" (j >= 1).

    Args:
        n_skills: S.
        m: the number of lacking skills, 0 <= m <= S (a fractional m interpolates between integers).
        k_prime: tuple size, 1 <= k' <= S.
        rule: "count" or "xor" (`task.compose_rule`).

    Returns:
        sum_j P(j lacking skills in the tuple) * P(right | j), with P(j) hypergeometric.
    """
    if rule not in ("count", "xor"):
        raise ValueError(f"rule must be 'count' or 'xor' (got {rule!r})")
    _check_counts(n_skills, m, k_prime)
    low = math.floor(m)
    weight = m - low

    def at(m_int: int) -> float:
        total = math.comb(n_skills, k_prime)
        return sum(math.comb(m_int, j) * math.comb(n_skills - m_int, k_prime - j) / total * _guess_probability(j, rule)
                   for j in range(min(m_int, k_prime) + 1))

    return at(low) if weight == 0 else (1 - weight) * at(low) + weight * at(min(low + 1, n_skills))
