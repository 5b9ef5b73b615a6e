"""The PAIR explorable's three models as its notebooks set them, and the pieces they need."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest

import lab
from lab import models, references
from lab.report.phases import CLASSES, classify, classify_numbers
from lab.sweeps import expand, hparams_of, load_spec
from lab.launch.runner import run_sweep
from lab.train import make_optimizer, per_example_loss, step
from lab.train.grad_transforms import add_l1_decay
from lab.train.losses import accuracy, collapsed

SWEEPS = Path(__file__).parent.parent / "sweeps"


def _first_models(spec, n: int):
    """Initial states, data and metrics of the first n models of a spec's first group."""
    group = expand(spec)[0]
    out = []
    with step.precision_scope(spec):
        for row in group.numbers[:n]:
            hp = jax.tree.map(lambda v: v[0], hparams_of(spec, [row]))
            state = jax.jit(lambda h: step.init_state(spec, h))(hp)
            data = step.make_data(spec, hp, group.n_train_max())
            out.append((state, data, {k: float(v) for k, v in step.evaluate(spec, state.params, data).items()}))
    return out


def test_main_model_starts_at_the_explorables_norm_and_loss():
    spec = load_spec(SWEEPS / "pair_modadd.toml")
    page = references.load("pair_modadd_seeds")
    first = _first_models(spec, 8)
    norms = [m["weight_norm"] for _, _, m in first]
    assert abs(np.mean(norms) - 37.39) < 0.4  # the notebook's logged run: 37.39 (the old N(0, 1) embedding: 184)
    for state, data, m in first:
        assert page.train_loss_0.min() <= m["train_loss"] <= page.train_loss_0.max()  # CE / 67 of the 450 runs
        assert int(data.w_train.sum()) == 911 and int(data.w_test.sum()) == 2278 - 911
        assert state.params["W_in"].dtype == jnp.float64  # jax_enable_x64, as the notebook
    assert len({int(d.x_train[0, 0]) * 67 + int(d.x_train[0, 1]) for _, d, _ in first}) > 1  # a split per seed


def test_main_model_fits_its_training_set_within_1000_steps(tmp_path):
    spec = load_spec(SWEEPS / "pair_modadd.toml", ["train.steps=1000", "sweep.seeds=3", "train.checkpoints=0"])
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    at_1000 = run.metrics[run.metrics.step == 1000]
    assert (at_1000.train_acc == 1.0).all()  # the notebook's log: 100% train accuracy at step 500
    assert (at_1000.test_acc < 0.05).all()  # memorized, not generalized


@pytest.mark.slow
def test_five_neuron_model_reaches_full_test_accuracy(tmp_path):
    spec = load_spec(SWEEPS / "pair_circle.toml", ["sweep.seeds=2", "train.checkpoints=2"])
    assert models.param_count(_first_models(spec, 1)[0][0].params) == 20  # 2 x 5 in, 5 x 2 out
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    last = run.metrics[run.metrics.step == spec.train.steps]
    assert (last.test_acc == 1.0).all()


def test_circle_unit_columns_and_its_tied_readout():
    spec = load_spec(SWEEPS / "pair_circle.toml")
    table = np.asarray(models.fixed_embedding(spec.model, spec.task))
    np.testing.assert_allclose(np.linalg.norm(table, axis=0), 1.0, rtol=1e-6)  # gen_fixed_embed's columns
    np.testing.assert_allclose(table[:, 0] * np.sqrt(67 / 2), np.cos(2 * np.pi * np.arange(67) / 67), atol=1e-6)
    params = models.init(jax.random.key(0), spec.model, spec.task)
    x = jnp.array([[3, 5], [10, 60]])
    relu = jax.nn.relu(table[np.asarray(x[:, 0])] @ params["W_in"] + table[np.asarray(x[:, 1])] @ params["W_in"])
    np.testing.assert_allclose(models.apply(params, x, spec.model, spec.task), relu @ params["W_out"] @ table.T,
                               rtol=1e-5, atol=1e-6)


def test_parity_model_is_the_pages():
    spec = load_spec(SWEEPS / "pair_parity.toml")
    assert sum(g.size for g in expand(spec)) == 1125 and len(expand(spec)) == 25
    (state, data, m), = _first_models(spec, 1)
    x = np.asarray(data.x_train)
    assert set(np.unique(x)) == {0.0, 1.0}  # 1s and 0s
    np.testing.assert_array_equal(np.asarray(data.y_train), x[:, :3].sum(1) % 2)
    w_in = state.params["W_in"]
    assert w_in.shape == (31, spec.model.width) and "b_in" not in state.params  # bias = a constant-1 input row
    assert state.params["W_out"].shape == (spec.model.width, 1)  # one output column
    logits = models.apply(state.params, data.x_test, spec.model, spec.task)
    h = jax.nn.relu(jnp.concatenate([data.x_test, jnp.ones((len(x := data.x_test), 1))], 1) @ w_in)
    np.testing.assert_allclose(logits, h @ state.params["W_out"], rtol=1e-5, atol=1e-6)


def test_clipped_binary_loss_has_the_pages_float32_floor():
    z = jnp.array([[40.0], [-40.0], [0.3], [-2.0]])
    y = jnp.array([1, 0, 1, 1])
    clipped = per_example_loss(z, y, "cross_entropy", clip=1e-7)
    assert clipped.dtype == jnp.float32 and float(clipped[0]) == float(clipped[1]) == 2.0**-23  # the page's min
    plain = per_example_loss(z, y, "cross_entropy")
    assert float(plain[0]) < 1e-15  # unclipped, a confident example's loss keeps falling
    np.testing.assert_allclose(plain[2:], -np.log(1 / (1 + np.exp(-np.array([0.3, -2.0])))), rtol=1e-6)
    np.testing.assert_allclose(clipped[2:], plain[2:], rtol=1e-6)
    grad = jax.grad(lambda z: per_example_loss(z, y, "cross_entropy", clip=1e-7).sum())(z)
    assert float(grad[0, 0]) == 0.0 and float(grad[2, 0]) != 0.0  # no gradient past the clip
    np.testing.assert_array_equal(collapsed(z, y, "cross_entropy", 1e-7), [1, 1, 0, 0])
    np.testing.assert_array_equal(accuracy(z, y), [1, 1, 1, 0])


def test_l1_decay_is_the_notebooks_l1_regularizer_before_adam():
    params = {"w": jnp.array([0.5, -2.0, 0.0]), "b": jnp.array([[1.0, -1.0]])}
    grads = {"w": jnp.array([0.1, 0.2, -0.3]), "b": jnp.array([[0.0, 0.5]])}
    got, _ = add_l1_decay(0.01).update(grads, optax.EmptyState(), params)
    np.testing.assert_allclose(got["w"], [0.1 + 0.01, 0.2 - 0.01, -0.3])
    cfg = load_spec(SWEEPS / "pair_parity.toml", ["train.decay=l1", "train.optimizer=adam"]).train
    opt = make_optimizer(cfg, weight_decay=1e-4)
    reference = optax.chain(add_l1_decay(1e-4), optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2))
    state, ref_state = opt.init(params), reference.init(params)
    for _ in range(3):
        update, state = opt.update(grads, state, params)
        ref_update, ref_state = reference.update(grads, ref_state, params)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), update, ref_update)
        params = optax.apply_updates(params, update)


def _curve(train, test) -> pd.DataFrame:
    return pd.DataFrame({"step": np.arange(len(train)) * 100, "train_loss": train, "test_loss": test})


def test_the_explorables_phase_rule_on_hand_made_curves():
    floor = 2.0**-23  # where the page's clipped float32 loss stops
    assert classify(_curve([0.7, 0.3, 0.1, 0.05], [0.7, 0.6, 0.6, 0.6])) == "no learning"
    assert classify(_curve([0.7, 1e-3, floor, floor], [0.7, 0.8, 0.5, 0.4])) == "memorizes"
    assert classify(_curve([0.7, floor, floor, floor], [0.7, 0.9, 0.3, 2e-6])) == "grokking"  # ratio 7.5e6
    assert classify(_curve([0.7, 1e-3, 1e-5, 1e-6], [0.7, 2e-3, 3e-5, 4e-6])) == "generalizes"  # together
    assert classify(_curve([0.7, 1e-5, 1e-6], [0.7, 0.04, 1e-6])) == "generalizes"  # ratio 4e3 < 5e4
    page = references.load("pair_parity_sweep")
    phases = [classify_numbers(a, b, c) for a, b, c in zip(page.min_train_loss, page.min_eval_loss, page.max_ratio)]
    assert set(phases) == set(CLASSES)  # the page's sweep has all four


def test_the_main_models_step_is_the_notebooks(tmp_path):
    """The lab's step against a plain-JAX rewrite of MLP_Modular_Addition.ipynb cells 16-17 (one-hot matmuls,
    the tied unembedding, -mean(one_hot * log_softmax), optax.adamw)."""
    spec = load_spec(SWEEPS / "pair_modadd.toml")
    (state, data, _), = _first_models(spec, 1)
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
