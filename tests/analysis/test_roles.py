"""lab.analysis.roles: prediction and suppression neurons found from a hand-built model's weights."""

from __future__ import annotations

import jax
import numpy as np

from lab import models
from lab.analysis.roles import neuron_roles
from lab.config import ModelConfig, Spec, TaskConfig


def test_prediction_and_suppression_neurons_are_found_from_weights():
    cfg = ModelConfig(kind="transformer", d_model=32, n_heads=2, d_head=8, d_mlp=6)
    task = TaskConfig(p=23)
    params = jax.tree.map(np.asarray, models.init(jax.random.key(1), cfg, task))
    rng = np.random.default_rng(1)
    w_u = rng.normal(size=(32, 23))  # d_model >= classes: any projection can be written exactly
    w_out = rng.normal(size=(6, 23)) * 0.1
    w_out[0, 5] = 5.0  # neuron 0 raises class 5 only
    w_out[1, 9] = -5.0  # neuron 1 lowers class 9 only
    params = {**params, "W_U": w_u.astype(np.float32),
              "block_0_mlp": {**params["block_0_mlp"], "W_out": (w_out @ np.linalg.pinv(w_u)).astype(np.float32)}}
    roles = neuron_roles(params, Spec(model=cfg))
    assert roles.role.tolist()[:2] == ["prediction", "suppression"]
    assert roles.top_class[0] == 5 and roles.bottom_class[1] == 9
    assert (roles.role[2:] == "").all() and (roles["kurtosis"][2:] < 10).all()
