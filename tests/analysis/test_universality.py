"""lab.analysis.universality: streamed neuron correlations, best matches across seeds against the rotation baseline
(Gurnee et al. 2024), families by frequency and by bits."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from lab import models
from lab.analysis.activations import (
    activation_table,
    complete_inputs,
)
from lab.analysis.universality import (
    best_matches,
    families_by_bits,
    families_by_frequency,
    neuron_correlations,
    random_rotations,
    universality,
)
from lab.config import Spec
from lab.errors import LabError
from tests.helpers import tiny_spec

TINY = tiny_spec()  # MLP, width 16, x+y mod 11
MLP, TASK, P = TINY.model, TINY.task, TINY.task.p
MLP_SPEC = Spec(model=MLP, task=TASK)
init = jax.jit(models.init, static_argnums=(1, 2))
apply = jax.jit(models.apply, static_argnums=(2, 3))


def _permuted(params: dict, perm: np.ndarray) -> dict:
    """The same MLP with its hidden neurons reordered: new neuron j is old neuron perm[j]."""
    out = dict(params)
    out["W_in"], out["b_in"], out["W_out"] = params["W_in"][:, perm], params["b_in"][perm], params["W_out"][perm]
    return out


def test_streamed_correlations_equal_corrcoef():
    rng = np.random.default_rng(0)
    a_NxF = 100.0 + rng.standard_normal((203, 5)) @ rng.standard_normal((5, 5))  # a large mean: no cancellation
    b_NxG = np.concatenate([a_NxF[:, :2] @ rng.standard_normal((2, 3)) + rng.standard_normal((203, 3)),
                            -a_NxF[:, 3:4], np.full((203, 1), 7.0)], axis=1)  # an anti-copy and a constant
    corr_FxG = neuron_correlations(a_NxF.astype(np.float32), b_NxG.astype(np.float32), chunk=17)
    with np.errstate(invalid="ignore"):  # the constant column's NaN
        expected_FxG = np.corrcoef(a_NxF.astype(np.float32), b_NxG.astype(np.float32), rowvar=False)[:5, 5:]
    np.testing.assert_allclose(corr_FxG[:, :4], expected_FxG[:, :4], atol=1e-6)
    assert (corr_FxG[:, 4] == 0).all()  # constant neuron: no correlation (corrcoef gives NaN)
    assert corr_FxG[3, 3] == pytest.approx(-1.0, abs=1e-9)
    np.testing.assert_allclose(neuron_correlations(a_NxF, b_NxG, chunk=1000), corr_FxG, atol=1e-6)
    match_F, best_F = best_matches(corr_FxG)
    np.testing.assert_array_equal(match_F, np.argmax(corr_FxG, axis=1))
    np.testing.assert_allclose(best_F, corr_FxG.max(axis=1))


def test_a_permuted_copy_matches_every_neuron_and_beats_the_rotation_baseline():
    params = init(jax.random.key(1), MLP, TASK)
    perm = np.random.default_rng(1).permutation(MLP.width)
    copy = _permuted(params, perm)
    x = complete_inputs(MLP_SPEC)
    np.testing.assert_allclose(apply(copy, x, MLP, TASK), apply(params, x, MLP, TASK), rtol=1e-5, atol=1e-5)
    a_NxF, b_NxF = activation_table(params, MLP_SPEC, x=x), activation_table(copy, MLP_SPEC, x=x)
    match_F, corr_F = best_matches(neuron_correlations(a_NxF, b_NxF, chunk=50))
    np.testing.assert_allclose(corr_F, 1.0, atol=1e-5)
    np.testing.assert_array_equal(match_F, np.argsort(perm))  # old neuron i is new neuron j with perm[j] = i

    out = universality([a_NxF, b_NxF], n_rotations=20, key=jax.random.key(2))
    np.testing.assert_allclose(out["max_corr"][0, 1], 1.0, atol=1e-5)
    np.testing.assert_array_equal(out["best_match"][1, 0], perm)
    assert np.isnan(out["max_corr"][0, 0]).all() and (out["best_match"][0, 0] == -1).all()
    assert out["baseline_mean_max_corr"].shape == (20, 2, MLP.width)
    # Against a rotated basis each neuron's best match is a mix of all 16 neurons, which share the operands'
    # embeddings and so correlate: over 5 inits and 3 keys the baseline's mean was 0.55 to 0.64 and its 99th
    # percentile 0.84 to 0.91 (a random 16-dim rotation keeps a sizeable part of some neuron now and then).
    baseline = out["baseline_mean_max_corr"]
    assert baseline.mean() < 0.7 and out["threshold"] < 0.99
    assert out["universal"].all() and out["fraction_universal"] == 1.0
    np.testing.assert_allclose(out["excess"], 1.0 - baseline.mean(axis=0), atol=1e-5)

    # Unrelated models (another seed, untrained) have few universal neurons (0 to 6% in the runs above).
    other_NxF = activation_table(init(jax.random.key(3), MLP, TASK), MLP_SPEC, x=x)
    unrelated = universality([a_NxF, other_NxF], n_rotations=20)
    assert unrelated["fraction_universal"] < 0.25
    assert unrelated["fraction_universal_by_excess"] == 0.0  # Gurnee et al.'s cut: excess > 0.5


def test_the_rotation_baseline_is_the_correlation_with_rotated_activations():
    rng = np.random.default_rng(4)
    shared_NxK = rng.standard_normal((300, 4))
    tables = [np.maximum(shared_NxK @ rng.standard_normal((4, 6)) + 0.5 * rng.standard_normal((300, 6)), 0)
              for _ in range(3)]
    rot_RxMxFxF = random_rotations(jax.random.key(5), 2 * 3, 6).reshape(2, 3, 6, 6)
    eye_MxFxF = np.broadcast_to(np.eye(6), (3, 6, 6))
    np.testing.assert_allclose(np.einsum("mij,mkj->mik", rot_RxMxFxF[0], rot_RxMxFxF[0]), eye_MxFxF, atol=1e-12)
    out = universality(tables, rotations=rot_RxMxFxF, chunk=64, percentile=90)
    for r, i, j in [(0, 0, 1), (1, 2, 0), (1, 1, 2)]:
        explicit_F = neuron_correlations(tables[i], tables[j] @ rot_RxMxFxF[r, j]).max(axis=1)
        np.testing.assert_allclose(out["baseline_max_corr"][r, i, j], explicit_F, atol=1e-9)
        np.testing.assert_allclose(out["max_corr"][i, j], neuron_correlations(tables[i], tables[j]).max(axis=1),
                                   atol=1e-9)
    np.testing.assert_allclose(out["mean_max_corr"][1], out["max_corr"][1, [0, 2]].mean(axis=0))
    assert out["threshold"] == pytest.approx(np.percentile(out["baseline_mean_max_corr"], 90))
    identity = universality(tables, rotations=np.broadcast_to(np.eye(6), (1, 3, 6, 6)))
    np.testing.assert_allclose(identity["baseline_max_corr"][0], identity["max_corr"], atol=1e-9)
    with pytest.raises(LabError, match="same width"):
        universality([tables[0], tables[1][:, :5]])


def test_families_by_frequency_and_by_bits():
    p = 13
    a_PP, b_PP = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    waves = [np.maximum(np.cos(2 * np.pi * k * (a_PP + b_PP) / p + phase), 0)
             for k, phase in [(3, 0.0), (5, 1.0), (3, 2.0)]]
    acts_NxF = np.stack([w.ravel() for w in waves] + [np.ones(p * p)], axis=1)
    table = families_by_frequency(acts_NxF, p, universal_F=[True, False, True, False])
    assert table.family.tolist() == [3, 5, 3, 0] and (table.fraction[:3] > 0.8).all()
    assert table[table.universal].groupby("family").size().to_dict() == {3: 2}
    with pytest.raises(LabError, match="p \\* p"):
        families_by_frequency(acts_NxF[:-1], p)

    w_in_IxF = 0.01 * np.random.default_rng(0).standard_normal((10, 3))
    w_in_IxF[[7, 1, 4], 0] = [2.0, -3.0, 1.0]
    w_in_IxF[[0, 9, 2], 1] = [-1.0, 1.0, 1.5]
    w_in_IxF[[5, 6, 8], 2] = [0.5, 0.5, -0.5]
    bits = families_by_bits(w_in_IxF, 3)
    assert bits.family.tolist() == ["1,4,7", "0,2,9", "5,6,8"] and bits.bits[0] == (1, 4, 7)
    assert (bits.weight_fraction > 0.99).all()
