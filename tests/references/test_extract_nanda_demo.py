"""lab.references.extract_nanda_demo: the committed starting point is the TransformerLens demo's, as its notebook
printed it (the split's first rows and the initial losses), in the lab model's layout."""

from __future__ import annotations

import jax
import numpy as np

from lab import models, references
from lab.references.extract_nanda_demo import DRAWS, P
from lab.sweeps import load_spec
from tests.helpers import SWEEPS, first_models


def test_the_file_holds_every_draw_in_its_shape_and_the_demos_training_rows():
    start = references.arrays("nanda_demo_start")
    assert {path: start[path].shape for path, _ in DRAWS} == {path: shape for path, shape in DRAWS}
    rows = start["train_index"]
    assert rows.shape == (3830,) and np.unique(rows).size == 3830 and 0 <= rows.min() and rows.max() < P * P
    assert [divmod(int(r), P) for r in rows[:5]] == [(21, 31), (30, 98), (47, 10), (86, 21), (99, 83)]  # In[13]
    std = 0.8 / np.sqrt(128)
    assert all(abs(start[path].std() / std - 1) < 0.05 and abs(start[path].mean()) < 0.01 for path, _ in DRAWS)


def test_the_draws_are_the_demo_models_parameters_in_the_lab():
    spec = load_spec(SWEEPS / "nanda_demo.toml")
    drawn = jax.eval_shape(lambda k: models.init(k, spec.model, spec.task), jax.random.key(0))
    paths = {"/".join(str(k.key) for k in path): w.shape for path, w in jax.tree_util.tree_flatten_with_path(drawn)[0]}
    assert paths == dict(DRAWS)


def test_the_demo_starts_at_the_initial_losses_its_notebook_printed():
    """In[18] printed 4.7350 (train) and 4.7333 (test); the draw order of today's TransformerLens (W_Q, W_O, W_K,
    W_V) would start at 4.7359."""
    [(_, data, m)] = first_models(load_spec(SWEEPS / "nanda_demo.toml"), 1)
    assert abs(m["train_loss"] - 4.7350) <= 5e-5 and abs(m["test_loss"] - 4.7333) <= 5e-5
    assert int(data.w_train.sum()) == 3830 and int(data.w_test.sum()) == P * P - 3830
