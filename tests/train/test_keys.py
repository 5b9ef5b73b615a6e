"""lab.train.keys: the same seed gives the same init and replayable keys."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lab import train
from lab.sweeps import expand
from lab.train import build_programs


def test_same_seed_same_init_and_replayable_keys(spec_factory):
    (group,) = expand(spec_factory(axes=[("train.lr", (3e-3, 1e-2))], seeds=1))
    state = build_programs(group.spec, 61).init(group.hparams())
    jax.tree.map(lambda w: np.testing.assert_array_equal(w[0], w[1]), state.params)  # lr does not change the init
    k1 = train.step_key(jnp.int32(3), jnp.int32(7))
    assert jnp.array_equal(jax.random.key_data(k1), jax.random.key_data(train.step_key(jnp.int32(3), jnp.int32(7))))
    assert not jnp.array_equal(jax.random.key_data(k1), jax.random.key_data(train.step_key(jnp.int32(3), jnp.int32(8))))
