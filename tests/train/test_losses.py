"""lab.train.losses: cross-entropy, StableMax, float64 and exact losses, the clipped binary loss's float32 floor and
the Zipf-weighted test loss, each against a reference."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lab import tasks, train
from lab.train.losses import accuracy, collapsed, log_stablemax, per_example_loss
from tests.helpers import parity_spec


def test_stablemax_is_a_distribution_with_softmax_order():
    logits = jax.random.normal(jax.random.key(3), (64, 13)) * 20
    p = np.exp(np.asarray(log_stablemax(logits), np.float64))
    assert (p > 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    soft = np.asarray(jax.nn.softmax(logits))
    np.testing.assert_array_equal(p.argmax(-1), soft.argmax(-1))
    np.testing.assert_array_equal(np.argsort(p, -1), np.argsort(np.asarray(logits), -1))  # same order


def test_softmax_loss_and_its_gradient_are_log_softmaxs_bit_for_bit():
    """The fused form (max - z_y) + log(sum exp(z - max)) rounds as -log_softmax(z)[y] does, collapse included."""
    key_z, key_y = jax.random.split(jax.random.key(5))
    for scale in (1.0, 30.0, 100.0):  # at 30 and 100 many rows' float32 loss is exactly 0 (softmax collapse)
        z = jax.random.normal(key_z, (512, 67)) * scale
        y = jnp.where(jnp.arange(512) % 2 == 0, jnp.argmax(z, -1), jax.random.randint(key_y, (512,), 0, 67))
        for kind in ("cross_entropy", "cross_entropy_class_mean"):
            def reference(z):
                nll = -jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=-1)[:, 0]
                return nll / 67 if kind == "cross_entropy_class_mean" else nll
            loss = jax.jit(lambda z: per_example_loss(z, y, kind))
            np.testing.assert_array_equal(np.asarray(loss(z)), np.asarray(jax.jit(reference)(z)))
            grad = jax.jit(jax.grad(lambda z: jnp.sum(per_example_loss(z, y, kind) * jnp.arange(512.0))))
            ref_grad = jax.jit(jax.grad(lambda z: jnp.sum(reference(z) * jnp.arange(512.0))))
            np.testing.assert_array_equal(np.asarray(grad(z)), np.asarray(ref_grad(z)))
        assert scale == 1.0 or (np.asarray(loss(z)) == 0).any()


def test_accuracy_is_argmax_with_its_first_maximum_rule():
    z = jnp.asarray([[1.0, 3.0, 3.0], [1.0, 3.0, 3.0], [5.0, 0.0, 5.0], [0.0, -1.0, -2.0], [0.0, 2.0, 1.0]])
    y = jnp.asarray([1, 2, 2, 0, 2])  # ties: only the first column of the maximum is the prediction
    np.testing.assert_array_equal(np.asarray(accuracy(z, y)), [1, 0, 0, 1, 0])
    z = jax.random.randint(jax.random.key(6), (4096, 5), 0, 3).astype(jnp.float32)  # many ties
    y = jax.random.randint(jax.random.key(7), (4096,), 0, 5)
    np.testing.assert_array_equal(np.asarray(accuracy(z, y)), np.asarray(jnp.argmax(z, -1) == y, np.float32))


def test_float64_and_exact_losses_match_an_exact_reference_on_extreme_logits():
    logits = jnp.asarray([[20.0, 0.0, 0.0], [40.0, 0.0, 0.0], [60.0, -10.0, 5.0], [0.0, 0.0, 0.0], [-30.0, 30.0, 0.0]])
    y = jnp.asarray([0, 0, 0, 1, 0])
    rows, labels = np.asarray(logits, np.float64), np.asarray(y)
    # -log p(y) = log(1 + sum_{j != y} exp(x_j - x_y)), with log1p: exact in float64 for these rows.
    exact = np.array([math.log1p(sum(math.exp(v - r[c]) for j, v in enumerate(r) if j != c))
                      for r, c in zip(rows, labels)])
    assert exact[0] == pytest.approx(2 * math.exp(-20)) and exact[2] > 0

    plain = np.asarray(per_example_loss(logits, y, "cross_entropy"))
    assert (plain[:3] == 0).all()  # softmax collapse in float32: a lead of 20 already gives exactly 0
    np.testing.assert_array_equal(np.asarray(collapsed(logits, y, "cross_entropy")), [1, 1, 1, 0, 0])

    f64 = np.asarray(per_example_loss(logits, y, "cross_entropy", "float64"))
    assert f64.dtype == np.float32
    np.testing.assert_allclose(f64[[0, 3, 4]], exact[[0, 3, 4]], rtol=1e-6)  # float64 is exact up to a lead of ~37
    assert (f64[1:3] == 0).all()  # and collapses beyond: float64 delays collapse, it does not remove it
    g64 = jax.jit(jax.grad(lambda z: per_example_loss(z, y, "cross_entropy", "float64")[0]))(logits)
    np.testing.assert_allclose(g64[0], [-2 * math.exp(-20), math.exp(-20), math.exp(-20)], rtol=1e-5)

    ours = np.asarray(per_example_loss(logits, y, "cross_entropy", "exact"))
    np.testing.assert_allclose(ours, exact, rtol=1e-5)
    assert (ours > 0).all()
    # The exact loss has a gradient where the float32 one has none.
    g_exact = jax.grad(lambda z: per_example_loss(z, y, "cross_entropy", "exact")[1])(logits)
    g32 = jax.grad(lambda z: per_example_loss(z, y, "cross_entropy")[1])(logits)
    assert float(jnp.abs(g_exact[1, 0])) > 0 and float(jnp.abs(g32[1, 0])) == 0

    # StableMax does not collapse on the same logits; its three precisions agree.
    s_exact = np.array([math.log1p(sum((v + 1 if v >= 0 else 1 / (1 - v)) for j, v in enumerate(r) if j != c)
                                   / (r[c] + 1 if r[c] >= 0 else 1 / (1 - r[c])))
                        for r, c in zip(rows, labels)])
    for precision in ("float32", "float64", "exact"):
        np.testing.assert_allclose(per_example_loss(logits, y, "stablemax", precision), s_exact, rtol=1e-5)


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


def test_zipf_weighted_test_loss_weights_each_subtask_by_its_frequency():
    spec = parity_spec("multitask_parity", zipf_exponent=1.4)
    hp = train.hparams_of(spec, [{}])
    state = jax.vmap(lambda h: train.init_state(spec, h))(hp)
    data = jax.vmap(lambda h: train.make_data(spec, h, 64))(hp)
    out = jax.vmap(lambda p, d: train.evaluate(spec, p, d))(state.params, data)
    p_T = tasks.zipf_probs(4, 1.4)
    np.testing.assert_allclose(float(out["test_loss_zipf"][0]), float(np.asarray(out["test_loss_tasks"][0]) @ p_T),
                               rtol=1e-6)
    assert float(out["test_loss_zipf"][0]) != pytest.approx(float(out["test_loss"][0]), rel=1e-6)


def test_losses():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = jnp.array([0, 2])
    ce = per_example_loss(logits, y, "cross_entropy")
    ref = -np.log(np.exp(2.0) / (np.exp(2.0) + 1 + np.exp(-1.0)))
    np.testing.assert_allclose(ce, [ref, np.log(3.0)], rtol=1e-6)
    np.testing.assert_allclose(per_example_loss(logits, y, "cross_entropy_class_mean"), ce / 3, rtol=1e-6)
    np.testing.assert_allclose(per_example_loss(logits, y, "mse"), [(1 + 0 + 1) / 3, (0 + 0 + 1) / 3], rtol=1e-6)
