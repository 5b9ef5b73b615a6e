"""lab.checkpoints.handle: `run.model(i)` holds its own spec, grid row, params and data, and runs with a cache and
hooks."""

from __future__ import annotations

import numpy as np
import pytest

from lab import models


@pytest.fixture
def run(lr_run):
    """The shared tiny two-learning-rate sweep (conftest)."""
    return lr_run


def test_a_model_handle_holds_its_own_spec_row_params_and_data(run):
    row = run.grid.iloc[3]
    m = run.model(3)
    assert m.step == run.steps[-1] and m.spec.train.lr == pytest.approx(row["train.lr"])
    assert m.spec.train.seed == row["train.seed"] and m.row["train.lr"] == pytest.approx(row["train.lr"])
    np.testing.assert_array_equal(m.params["W_in"], run.params(3)["W_in"])
    x, y = m.train_set
    assert len(x) == round(0.5 * 11 * 11) == len(y)
    x_test, y_test = m.test_set
    assert len(x_test) == 11 * 11 - len(x)
    assert not {tuple(r) for r in np.asarray(x)} & {tuple(r) for r in np.asarray(x_test)}
    np.testing.assert_allclose(m.apply(x_test), models.apply(m.params, x_test, m.spec.model, m.spec.task), rtol=1e-5,
                               atol=1e-5)
    accuracy = float(np.mean(np.argmax(m.apply(x_test), -1) == y_test))
    logged = run.metrics.query("model == 3 and step == @m.step").test_acc.iloc[0]
    assert accuracy == pytest.approx(logged, abs=1e-6)


def test_the_handle_runs_with_cache_and_hooks(run):
    m = run.model(0, step=run.steps[1])
    x, _ = m.test_set
    logits, cache = m.run_with_cache(x, names=["mlp_post"])
    assert list(cache) == ["mlp_post_0"] and cache["mlp_post", -1].shape == (len(x), 16)
    dead = m.apply(x, hooks={m.site("mlp_post"): models.Replace(np.ones(16, bool), 0.0)})
    bias_only = m.params["b_out"][None] + 0 * logits  # every neuron zeroed: the readout's bias is left
    np.testing.assert_allclose(dead, bias_only, rtol=1e-6, atol=1e-6)
    doubled = m.apply(x, hooks={m.site("mlp_post"): lambda a: 2 * a})  # a function hook runs eagerly
    assert not np.allclose(doubled, logits)
