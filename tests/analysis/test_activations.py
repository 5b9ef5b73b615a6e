"""lab.analysis.activations: activation tables in chunks, transformer and head tables, parity inputs labelled as the
task labels them."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import models, train
from lab.analysis import neuron_activations_grid
from lab.analysis.ablation import (
    ablate,
    ablation_spec,
    mean_activations,
)
from lab.analysis.activations import (
    activation_table,
    complete_dataset,
    complete_inputs,
    head_table,
    sample_dataset,
)
from lab.config import ModelConfig, Spec, TaskConfig
from lab.errors import LabError
from lab.tasks import make_data, n_train_max
from tests.helpers import tiny_spec

TINY = tiny_spec()  # MLP, width 16, x+y mod 11
MLP, TASK, P = TINY.model, TINY.task, TINY.task.p
TRANSFORMER = ModelConfig(d_model=32, n_heads=2, d_head=16, d_mlp=64)
MLP_SPEC = Spec(model=MLP, task=TASK)
init = jax.jit(models.init, static_argnums=(1, 2))
apply = jax.jit(models.apply, static_argnums=(2, 3))


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
    zero_one = dataclasses.replace(task, bits="01")  # coded as the task codes its training rows
    x01, y01 = (np.asarray(a) for a in sample_dataset(Spec(model=cfg, task=zero_one), 500, jax.random.key(0)))
    trained_on = np.asarray(make_data(zero_one, jax.random.key(0), 1.0, n_train_max(zero_one, 1.0), False).x_train)
    assert set(np.unique(x01)) == set(np.unique(trained_on)) == {0.0, 1.0}
    np.testing.assert_array_equal(x01, (x == -1).astype(np.float32))  # the same draws, 1 where +-1 coding has -1
    np.testing.assert_array_equal(y01, y)
