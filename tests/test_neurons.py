"""Neuron-level analyses: activation tables, universality across seeds (Gurnee et al. 2024), ablations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_spec

import lab
from conftest import train_one
from lab import models, train
from lab.analysis import neuron_activations_grid, progress
from lab.analysis.ablation import (
    ablate,
    ablation_over_steps,
    ablation_spec,
    mean_activations,
    random_ablation_baseline,
)
from lab.analysis.activations import (
    activation_table,
    complete_dataset,
    complete_inputs,
    head_table,
    sample_dataset,
)
from lab.analysis.universality import (
    best_matches,
    families_by_bits,
    families_by_frequency,
    neuron_correlations,
    random_rotations,
    universality,
)
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig
from lab.errors import LabError
from lab.launch.runner import run_sweep

TINY = tiny_spec()  # MLP, width 16, x+y mod 11
MLP, TASK, P = TINY.model, TINY.task, TINY.task.p
TRANSFORMER = ModelConfig(d_model=32, n_heads=2, d_head=16, d_mlp=64)
MLP_SPEC = Spec(model=MLP, task=TASK)
init = jax.jit(models.init, static_argnums=(1, 2))
apply = jax.jit(models.apply, static_argnums=(2, 3))


def _permuted(params: dict, perm: np.ndarray) -> dict:
    """The same MLP with its hidden neurons reordered: new neuron j is old neuron perm[j]."""
    out = dict(params)
    out["W_in"], out["b_in"], out["W_out"] = params["W_in"][:, perm], params["b_in"][perm], params["W_out"][perm]
    return out


@pytest.fixture(scope="module")
def trained():
    """An MLP on x+y mod 11 trained on 80% of the table (a few hundred full-batch steps)."""
    spec = Spec(task=TaskConfig(p=P, train_frac=0.8), model=ModelConfig(kind="mlp", d_embed=16, width=32),
                train=TrainConfig(lr=1e-2, weight_decay=0.1, steps=300, log_every=300))
    return spec, train_one(spec, round(0.8 * P * P))


def test_activation_table_in_chunks_equals_one_call_and_the_grid():
    params = init(jax.random.key(0), MLP, TASK)
    x = complete_inputs(MLP_SPEC)
    whole_NxF = activation_table(params, MLP_SPEC, x=x, chunk=10**6)
    chunked_NxF = activation_table(params, MLP_SPEC, x=x, chunk=7)  # 121 rows: the last chunk is padded
    assert whole_NxF.shape == (P * P, MLP.width) and isinstance(whole_NxF, np.ndarray)
    np.testing.assert_allclose(chunked_NxF, whole_NxF, rtol=1e-6, atol=1e-6)
    grid_NxF = np.asarray(neuron_activations_grid(params, MLP_SPEC)).reshape(P * P, -1)
    np.testing.assert_allclose(whole_NxF, grid_NxF, rtol=1e-6, atol=1e-6)
    assert (whole_NxF.std(axis=0) > 0).all()  # every neuron varies: the matching tests below rely on it
    with pytest.raises(LabError, match="out of range"):
        activation_table(params, MLP_SPEC, x=x, layer=1)


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


def test_ablating_nothing_changes_nothing_and_everything_gives_chance(trained):
    spec, params = trained
    x, y = complete_dataset(spec)
    plain_NxC = apply(params, x, spec.model, spec.task)
    plain_loss = float(jnp.mean(train.per_example_loss(plain_NxC, jnp.asarray(y), "cross_entropy")))
    assert float(jnp.mean(train.accuracy(plain_NxC, jnp.asarray(y)))) > 0.75  # it learned (at least) its 80%
    nothing = ablation_spec(spec.model)
    np.testing.assert_array_equal(apply(params, x, spec.model, spec.task, nothing), plain_NxC)
    assert ablate(params, spec, x=x, y=y, chunk=50)["loss"] == pytest.approx(plain_loss, rel=1e-6)
    # Every neuron constant: the logits are the same for every input, one class is predicted, and each class is
    # the label of exactly p of the p^2 pairs, so accuracy is exactly 1/p; and the loss, the cross-entropy of one
    # distribution q against uniform labels, -mean_c log q_c, is at least the uniform entropy log p (Gibbs).
    every = np.arange(spec.model.width)
    for mode in ("zero", "mean"):
        out = ablate(params, spec, x=x, y=y, neurons=every, mode=mode)
        assert out["accuracy"] == pytest.approx(1 / P, abs=1e-9) and out["loss"] >= np.log(P) - 1e-5
    means = mean_activations(params, spec, x=x)["neurons"]
    logits_NxC = apply(params, x, spec.model, spec.task, ablation_spec(spec.model, every, mode="mean", mean_acts=means))
    assert np.ptp(np.asarray(logits_NxC), axis=0).max() == 0.0
    with pytest.raises(ValueError, match="mode must be 'zero' or 'mean'"):
        ablate(params, spec, x=x, y=y, neurons=[0], mode="half")
    with pytest.raises(LabError, match="only in transformers"):
        ablate(params, spec, x=x, y=y, heads=[0])


def test_ablation_equals_editing_the_readout_weights(trained):
    spec, params = trained
    x, _ = complete_dataset(spec)
    some = np.array([1, 5, 6, 20])
    zeroed = dict(params, W_out=params["W_out"].copy())
    zeroed["W_out"][some] = 0.0
    np.testing.assert_allclose(apply(params, x, spec.model, spec.task, ablation_spec(spec.model, some)),
                               apply(zeroed, x, spec.model, spec.task), rtol=1e-5, atol=1e-5)
    means = mean_activations(params, spec, x=x)["neurons"]
    np.testing.assert_allclose(means, activation_table(params, spec, x=x).mean(axis=0), rtol=1e-5)
    folded = dict(zeroed, b_out=params["b_out"] + means[some] @ params["W_out"][some])  # a constant, into the bias
    mean_spec = ablation_spec(spec.model, some, mode="mean", mean_acts=means)
    np.testing.assert_allclose(apply(params, x, spec.model, spec.task, mean_spec),
                               apply(folded, x, spec.model, spec.task), rtol=1e-4, atol=1e-4)


def test_random_ablation_baseline(trained):
    spec, params = trained
    x, y = complete_dataset(spec)
    draws = random_ablation_baseline(params, spec, x=x, y=y, n_neurons=3, n_draws=6, key=jax.random.key(0), mode="mean")
    assert draws["loss"].shape == draws["accuracy"].shape == (6,) and draws["neurons"].shape == (6, 3)
    assert all(len(set(row)) == 3 for row in draws["neurons"].tolist())
    assert len({tuple(row) for row in draws["neurons"].tolist()}) > 1
    first = ablate(params, spec, x=x, y=y, neurons=draws["neurons"][0], mode="mean")
    assert draws["loss"][0] == pytest.approx(first["loss"]) and draws["accuracy"][0] == pytest.approx(first["accuracy"])
    everything = random_ablation_baseline(params, spec, x=x, y=y, n_neurons=spec.model.width, n_draws=2)
    np.testing.assert_allclose(everything["accuracy"], 1 / P)


def test_ablation_over_saved_steps(tmp_path):
    run = lab.open(run_sweep(tiny_spec(seeds=1), tmp_path / "run", progress=False))
    table = ablation_over_steps(run, model=0, neurons=np.arange(MLP.width))
    assert list(table.step) == run.steps
    np.testing.assert_allclose(table.accuracy, 1 / P)
    assert (table.loss_increase == table.loss - table.plain_loss).all()
    # Unablated, the loss over all pairs is the logged train and test losses weighted by their sizes.
    mask = progress.train_mask(run.spec)
    logged = run.metrics.set_index("step").loc[run.steps[-1]]
    expected = (mask.sum() * logged.train_loss + (P * P - mask.sum()) * logged.test_loss) / (P * P)
    assert table.plain_loss.iloc[-1] == pytest.approx(expected, rel=1e-4)
    few = ablation_over_steps(run, model=0, neurons=[0, 3], mode="mean", steps=run.steps[-1:])
    assert len(few) == 1 and np.isfinite(few.loss).all()


def test_transformer_tables_and_head_ablation():
    task = TaskConfig(p=13)
    params = init(jax.random.key(0), TRANSFORMER, task)
    x, y = complete_dataset(Spec(model=TRANSFORMER, task=task))
    acts_NxF = activation_table(params, Spec(model=TRANSFORMER, task=task), x=x, chunk=50)
    grid_NxF = np.asarray(neuron_activations_grid(params, Spec(model=TRANSFORMER, task=task))).reshape(13 * 13, -1)
    np.testing.assert_allclose(acts_NxF, grid_NxF, rtol=1e-5, atol=1e-6)
    pattern_NxHxL = head_table(params, Spec(model=TRANSFORMER, task=task), x=x, chunk=50)
    _, acts = models.run_with_cache(params, x, TRANSFORMER, task)
    assert pattern_NxHxL.shape == (13 * 13, 2, 3)
    np.testing.assert_allclose(pattern_NxHxL, acts["block_0_attn/attn_pattern"][:, :, -1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pattern_NxHxL.sum(-1), 1.0, rtol=1e-5)

    plain_NxC = apply(params, x, TRANSFORMER, task)
    np.testing.assert_array_equal(apply(params, x, TRANSFORMER, task, ablation_spec(TRANSFORMER)), plain_NxC)
    plain_loss = float(jnp.mean(train.per_example_loss(plain_NxC, jnp.asarray(y), "cross_entropy")))
    assert ablate(params, Spec(model=TRANSFORMER, task=task), x=x, y=y, chunk=64)["loss"] == pytest.approx(plain_loss, rel=1e-6)
    # Zeroing head 1's output is zeroing its W_O; zeroing neurons is zeroing their rows of the MLP's W_out.
    no_head = jax.tree.map(lambda w: w, params)
    no_head["block_0_attn"] = dict(params["block_0_attn"], W_O=params["block_0_attn"]["W_O"].at[1].set(0.0))
    np.testing.assert_allclose(apply(params, x, TRANSFORMER, task, ablation_spec(TRANSFORMER, heads=[1])),
                               apply(no_head, x, TRANSFORMER, task), rtol=1e-5, atol=1e-5)
    some = np.array([0, 7, 63])
    no_neurons = dict(params, block_0_mlp=dict(params["block_0_mlp"],
                                                W_out=params["block_0_mlp"]["W_out"].at[some].set(0.0)))
    np.testing.assert_allclose(apply(params, x, TRANSFORMER, task, ablation_spec(TRANSFORMER, some)),
                               apply(no_neurons, x, TRANSFORMER, task), rtol=1e-5, atol=1e-5)
    means = mean_activations(params, Spec(model=TRANSFORMER, task=task), x=x, chunk=64)
    assert means["neurons"].shape == (64,) and means["heads"].shape == (2, 16)
    np.testing.assert_allclose(means["neurons"], acts_NxF.mean(axis=0), rtol=1e-5, atol=1e-6)
    mean_out = ablate(params, Spec(model=TRANSFORMER, task=task), x=x, y=y, heads=[0, 1], mode="mean", mean_acts=means)
    zero_out = ablate(params, Spec(model=TRANSFORMER, task=task), x=x, y=y, heads=[0, 1])
    assert np.isfinite(mean_out["loss"]) and mean_out["loss"] != pytest.approx(zero_out["loss"])
    assert zero_out["loss"] != pytest.approx(plain_loss)


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


def test_parity_inputs_are_labelled_as_the_task_labels_them():
    task, cfg = TaskConfig(name="parity", n_bits=12, k=3), ModelConfig(kind="mlp", width=16)
    x, y = sample_dataset(Spec(model=cfg, task=task), 500, jax.random.key(0))
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == (500, 12) and set(np.unique(x)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, (np.prod(x[:, :3], axis=1) == -1).astype(int))
    assert len({row.tobytes() for row in x}) == 500  # distinct rows, as the task draws them
    acts_NxF = activation_table(init(jax.random.key(0), cfg, task), Spec(model=cfg, task=task), x=x, chunk=128)
    assert acts_NxF.shape == (500, 16)
    with pytest.raises(LabError, match="parity"):
        complete_inputs(Spec(model=cfg, task=task))
