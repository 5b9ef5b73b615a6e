"""lab.analysis.skill_graph: Arora and Goyal's skills-and-text graph, the simulation against the closed forms, and
the prediction of k'-tuple competence from a measured error."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from lab.analysis import skill_graph as sg


def _lacking(n_skills: int, m: int, seed: int = 0) -> np.ndarray:
    lacking_S = np.zeros(n_skills, bool)
    lacking_S[np.random.default_rng(seed).choice(n_skills, m, replace=False)] = True
    return lacking_S


def _within_sigmas(measured: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    return abs(measured - p) <= sigmas * math.sqrt(p * (1 - p) / n) + 1e-12


def test_random_graph_rows_are_sorted_distinct_skills_in_range():
    graph = sg.random_graph(n_skills=1000, n_pieces=100_000, k=4, seed=1)
    pieces = graph.pieces_TxK
    assert pieces.shape == (100_000, 4) and pieces.dtype == np.int32
    assert (np.diff(pieces, axis=1) > 0).all()  # sorted and distinct
    assert pieces.min() >= 0 and pieces.max() < 1000
    assert graph.n_skills == 1000


def test_every_k_subset_is_equally_likely():
    graph = sg.random_graph(n_skills=6, n_pieces=20_000, k=3, seed=2)
    subsets = list(combinations(range(6), 3))  # 20 subsets, 1000 pieces each on average
    counts = [np.all(graph.pieces_TxK == s, axis=1).sum() for s in subsets]
    assert sum(counts) == 20_000
    expected, sd = 1000, math.sqrt(20_000 * (1 / 20) * (19 / 20))
    assert max(abs(c - expected) for c in counts) < 5 * sd


def test_skill_degrees_sum_to_t_k_and_are_binomial():
    n_skills, n_pieces, k = 50, 20_000, 3
    degrees = np.concatenate([sg.skill_degrees(sg.random_graph(n_skills, n_pieces, k, seed)) for seed in range(40)])
    mean = sg.expected_degree(n_skills, n_pieces, k)
    assert mean == 1200.0
    assert degrees.reshape(40, n_skills).sum(axis=1).tolist() == [n_pieces * k] * 40  # so the mean is exact
    p = k / n_skills
    assert np.mean((degrees - mean) ** 2) == pytest.approx(n_pieces * p * (1 - p), rel=0.12)  # Binomial(T, k/S)


@pytest.mark.parametrize("m", [5, 20, 60])
def test_simulated_piece_error_and_competence_match_the_closed_forms(m):
    n_skills, n_pieces, k = 200, 50_000, 3
    graph = sg.random_graph(n_skills, n_pieces, k, seed=m)
    lacking_S = _lacking(n_skills, m, seed=m)
    failed_T = sg.failed_pieces(graph, lacking_S)
    theta = sg.expected_piece_error(n_skills, m, k)
    assert _within_sigmas(failed_T.mean(), theta, n_pieces)
    competence_S = sg.skill_competence(graph, failed_T)
    assert (competence_S[lacking_S] == 0).all()
    outside = sg.expected_competence_outside(n_skills, m, k)
    assert np.mean(competence_S[~lacking_S]) == pytest.approx(outside, abs=0.01)
    for k_prime in (1, 2, 3, 4):
        measured = sg.tuple_competence_sim(lacking_S, k_prime, n_tuples=50_000, seed=k_prime)
        assert _within_sigmas(measured, sg.avoid_probability(n_skills, m, k_prime), 50_000)


def test_noise_fails_extra_pieces_and_competence_is_nan_without_pieces():
    graph = sg.SkillGraph(4, np.array([[0, 1], [1, 2], [0, 2]], np.int32))  # skill 3 is in no piece
    lacking_S = np.array([True, False, False, False])
    assert sg.failed_pieces(graph, lacking_S).tolist() == [True, False, True]
    assert sg.failed_pieces(graph, lacking_S, noise=1.0).all()
    competence = sg.skill_competence(graph, sg.failed_pieces(graph, lacking_S))
    np.testing.assert_array_equal(competence, [0.0, 0.5, 0.5, np.nan])
    big = sg.random_graph(100, 100_000, 2)
    assert _within_sigmas(sg.failed_pieces(big, np.zeros(100, bool), noise=0.1).mean(), 0.1, 100_000)


def test_small_exact_cases():
    assert sg.avoid_probability(4, 1, 2) == 0.5  # C(3,2)/C(4,2) = 3/6
    assert sg.expected_piece_error(4, 0, 2) == 0.0
    assert sg.avoid_probability(4, 3, 2) == 0.0 and sg.avoid_probability(4, 4, 2) == 0.0  # m >= S-k+1
    assert sg.expected_competence_outside(4, 1, 2) == pytest.approx(2 / 3)  # the other skill among 3 misses Y
    assert sg.expected_competence_outside(4, 2, 1) == 1.0  # a piece of one skill outside Y never fails
    for m in range(31):
        assert sg.avoid_probability(30, m, 5) == pytest.approx(math.comb(30 - m, 5) / math.comb(30, 5), abs=1e-15)


def test_lacking_from_piece_error_inverts_the_piece_error_and_is_monotone():
    for m in range(9):
        theta = sg.expected_piece_error(10, m, 3)
        assert sg.lacking_from_piece_error(theta, 10, 3) == pytest.approx(m, abs=1e-9)
    assert sg.lacking_from_piece_error(0.0, 10, 3) == 0.0
    assert sg.lacking_from_piece_error(1.0, 10, 3) == 8.0  # the smallest m with error 1 is S - k + 1
    inferred = [sg.lacking_from_piece_error(t, 1000, 4) for t in np.linspace(0, 1, 41)]
    assert (np.diff(inferred) > 0).all()


def test_predict_tuple_competence():
    k_primes = [1, 2, 4, 8]
    np.testing.assert_allclose(sg.predict_tuple_competence(k_primes, 1000, skill_error=0.1), 0.9 ** np.array(k_primes))
    from_pieces = sg.predict_tuple_competence(k_primes, 1000, piece_error=0.04, k=4)
    assert (np.diff(from_pieces) < 0).all()
    assert from_pieces[2] == pytest.approx(0.96)  # k' = k gives back 1 - theta
    assert from_pieces[0] == pytest.approx(0.99, abs=1e-3)  # the slingshot: skill error ~ theta / k
    halved = sg.predict_tuple_competence([2, 4, 8, 16], 1000, piece_error=0.02, k=4)
    np.testing.assert_allclose(halved, from_pieces, atol=2e-3)  # half the error, twice the tuple length


def test_simulate_agrees_with_theory():
    sim = sg.simulate(n_skills=500, n_pieces=50_000, k=4, lacking_fraction=0.02, k_primes=[1, 2, 4], seed=3)
    assert sim.n_lacking == 10 and sim.competence_inside == 0.0
    assert _within_sigmas(sim.piece_error, sim.piece_error_theory, 50_000)
    assert sim.competence_outside == pytest.approx(sim.competence_outside_theory, abs=0.01)
    np.testing.assert_allclose(sim.tuple_competence, sim.tuple_competence_theory, atol=0.01)
    np.testing.assert_allclose(sim.tuple_competence_predicted, sim.tuple_competence_theory, atol=0.01)


def test_bad_input_raises():
    with pytest.raises(ValueError):
        sg.random_graph(n_skills=3, n_pieces=10, k=4)
    with pytest.raises(ValueError):
        sg.random_graph(n_skills=3, n_pieces=10, k=0)
    with pytest.raises(ValueError):
        sg.random_graph(n_skills=3, n_pieces=0, k=2)
    with pytest.raises(ValueError):
        sg.failed_pieces(sg.random_graph(5, 10, 2), np.zeros(4, bool))
    with pytest.raises(ValueError):
        sg.avoid_probability(10, 11, 2)
    with pytest.raises(ValueError):
        sg.lacking_from_piece_error(1.5, 10, 2)
    with pytest.raises(ValueError):
        sg.predict_tuple_competence([1, 2], 100)  # neither error
    with pytest.raises(ValueError):
        sg.predict_tuple_competence([1, 2], 100, piece_error=0.1, k=3, skill_error=0.1)  # both
    with pytest.raises(ValueError):
        sg.predict_tuple_competence([1, 2], 100, piece_error=0.1)  # no k
    with pytest.raises(ValueError):
        sg.predict_tuple_competence([0, 2], 100, skill_error=0.1)


def test_tuple_accuracy_counts_the_chance_of_guessing_lacking_skills():
    assert sg.tuple_accuracy(8, 0, 3) == 1.0  # nothing lacking
    # S = 4, m = 1, k' = 2: half the pairs miss the lacking skill; the other half guess one coin (1/2)
    assert sg.tuple_accuracy(4, 1, 2, "count") == pytest.approx(0.5 + 0.5 * 0.5)
    assert sg.tuple_accuracy(4, 4, 2, "count") == pytest.approx(0.5)  # the count of 2 coins: mode 1 w.p. 1/2
    assert sg.tuple_accuracy(4, 4, 3, "count") == pytest.approx(3 / 8)  # 3 coins: count 1 (or 2) w.p. 3/8
    assert sg.tuple_accuracy(4, 4, 3, "xor") == pytest.approx(0.5)  # parity of any coins: 1/2
    # simulated: random triples of 10 skills, 3 lacking; the model knows the others' answers and guesses the
    # mode for the count of the lacking ones' answers, which is right when that count hits the mode
    rng = np.random.default_rng(0)
    lacking_NxJ = _lacking(10, 3, seed=1)[np.argsort(rng.random((40_000, 10)), axis=1)[:, :3]]
    answers_NxJ = rng.integers(0, 2, (40_000, 3))
    n_unknown = lacking_NxJ.sum(axis=1)
    right = (np.where(lacking_NxJ, answers_NxJ, 0).sum(axis=1) == n_unknown // 2) | (n_unknown == 0)
    assert _within_sigmas(right.mean(), sg.tuple_accuracy(10, 3, 3, "count"), 40_000)
    interpolated = sg.tuple_accuracy(10, 2.5, 3)
    assert sg.tuple_accuracy(10, 3, 3) < interpolated < sg.tuple_accuracy(10, 2, 3)
    with pytest.raises(ValueError, match="rule must be"):
        sg.tuple_accuracy(4, 1, 2, "sum")
