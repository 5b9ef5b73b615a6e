"""lab.train.step: the PAIR main model's step is the notebook's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lab.sweeps import expand, hparams_of, load_spec
from lab.train import step
from tests.helpers import SWEEPS, first_models


def test_the_main_models_step_is_the_notebooks(tmp_path):
    """The lab's step against a plain-JAX rewrite of MLP_Modular_Addition.ipynb cells 16-17 (one-hot matmuls,
    the tied unembedding, -mean(one_hot * log_softmax), optax.adamw)."""
    spec = load_spec(SWEEPS / "pair_modadd.toml")
    (state, data, _), = first_models(spec, 1)
    with step.precision_scope(spec):
        def notebook_loss(p, x, y):
            e_a, e_b = jax.nn.one_hot(x[:, 0], 67) @ p["W_E"], jax.nn.one_hot(x[:, 1], 67) @ p["W_E"]
            logits = (jax.nn.relu(e_a @ p["W_in"] + e_b @ p["W_in"]) @ p["W_out"]) @ p["W_E"].T
            return -jnp.mean(jax.nn.one_hot(y, 67) * jax.nn.log_softmax(logits, axis=-1))

        hp = jax.tree.map(lambda v: v[0], hparams_of(spec, [expand(spec)[0].numbers[0]]))
        lab_step = jax.jit(lambda s: step.train_step(spec, s, data, hp))
        adamw = optax.adamw(1e-3, b1=0.9, b2=0.98, weight_decay=1.0)
        params, opt_state, ours = state.params, adamw.init(state.params), state
        for _ in range(20):
            loss, grads = jax.value_and_grad(notebook_loss)(params, data.x_train, data.y_train)
            updates, opt_state = adamw.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            ours, our_loss = lab_step(ours)
            np.testing.assert_allclose(our_loss, loss, rtol=1e-7)  # float64; summation order differs
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8), ours.params, params)


@pytest.mark.parametrize("case", ["modular_padded", "parity_single_logit", "pair_float64", "stablemax_float64_loss",
                                  "nanda_transformer"])
@pytest.mark.parametrize("row_block", [7, 64])
def test_a_gradient_summed_over_row_blocks_is_the_whole_batchs(spec_factory, case, row_block):
    """Blocks that do not divide the batch (its last block padded), padding rows of the data, a float64 step, a
    float64 loss, a hidden layer and a transformer: the loss and gradients of one value_and_grad over the batch."""
    spec = {
        "modular_padded": spec_factory(),  # 61 rows, 60 real
        "parity_single_logit": load_spec(SWEEPS / "pair_parity.toml", ["task.n_train=150", "model.width=16"]),
        "pair_float64": load_spec(SWEEPS / "pair_modadd.toml"),
        "stablemax_float64_loss": load_spec(SWEEPS / "stablemax.toml", ["task.train_frac=0.05", "task.split_from="]),
        "nanda_transformer": load_spec(SWEEPS / "nanda_settings.toml", ["task.train_frac=0.05"]),
    }[case]
    (state, data, _), = first_models(spec, 1)
    with step.precision_scope(spec):
        whole = jax.jit(lambda p: jax.value_and_grad(lambda q: step._loss(spec, q, data.x_train, data.y_train,
                                                                           data.w_train))(p))(state.params)
        blocks = jax.jit(lambda p: step.loss_and_grads(spec, p, data.x_train, data.y_train, data.w_train, row_block)
                         )(state.params)
    assert data.x_train.shape[0] % row_block  # the last block is padded
    tol = 1e-12 if spec.train.dtype == "float64" else 1e-5
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=tol, atol=tol), blocks, whole)
    assert jax.tree.map(lambda a: a.dtype, blocks) == jax.tree.map(lambda a: a.dtype, whole)
