"""Initializer presets: each parameter of a model drawn as a peer's code draws it.

A parameter has a name (`W_E`, `W_in`, `b_in`, `W_Q`, `W_U`, ...), a role (embedding, weight,
bias, unembedding) and a fan-in (the inputs each output unit reads). A preset maps roles to
initializers; `model.init_overrides` replaces the initializer of named parameters.

| preset | weights (fan_in = F)          | biases                     | embeddings                 |
|--------|-------------------------------|----------------------------|----------------------------|
| lab    | N(0, 1/F)                     | 0                          | MLP N(0, 1); transformer N(0, 1/d_model) |
| haiku  | TruncNormal(-2, 2) / sqrt(F)  | 0                          | TruncNormal(-2, 2) (hk.Embed) |
| torch  | U(-1/sqrt(F), 1/sqrt(F))      | U(-1/sqrt(F), 1/sqrt(F))   | N(0, 1) (nn.Embedding)     |

The lab preset is the lab's original scheme (the transformer's unembedding: N(0, 1/n_vocab)).
Overrides are strings such as "variance_scaling(2)" (Haiku's VarianceScaling(2.0): a truncated
normal of variance 2/F), "truncated_normal_fan_in", "uniform_fan_in", "normal(0.1)", "zeros";
see `lab.initializer_text.INITIALIZERS`. For a table [V, E] the fan-in is V (as Haiku and JAX
count it for a 2-D parameter).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from lab.config import ModelConfig
from lab.initializer_text import parse_initializer

Init = Callable[[jax.Array, tuple[int, ...], jnp.dtype], jax.Array]
ROLES = ("embedding", "weight", "bias", "unembedding")


def _normal(std: float) -> Init:
    return jax.nn.initializers.normal(stddev=std)


def _truncated(std: float) -> Init:
    return jax.nn.initializers.truncated_normal(stddev=std, lower=-2.0, upper=2.0)


def _uniform(bound: float) -> Init:
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def from_text(text: str, fan_in: int) -> Init:
    """The initializer an override string names, for a parameter with this fan-in."""
    name, value = parse_initializer(text)
    root = 1 / math.sqrt(fan_in)
    return {
        "zeros": lambda: jax.nn.initializers.zeros,
        "normal": lambda: _normal(value),
        "truncated_normal": lambda: _truncated(value),
        "uniform": lambda: _uniform(value),
        "normal_fan_in": lambda: _normal(root),
        "truncated_normal_fan_in": lambda: _truncated(root),
        "uniform_fan_in": lambda: _uniform(root),
        # Haiku and JAX: truncated normal with stddev sqrt(s / fan_in) / 0.8796 (the truncation's correction)
        "variance_scaling": lambda: jax.nn.initializers.variance_scaling(value, "fan_in", "truncated_normal",
                                                                         in_axis=-2, out_axis=-1),
    }[name]()


def _preset(preset: str, role: str, fan_in: int, lab_std: float) -> Init:
    """The preset's initializer for a role; lab_std is the lab scheme's standard deviation."""
    root = 1 / math.sqrt(fan_in)
    if preset == "lab":
        return jax.nn.initializers.zeros if role == "bias" else _normal(lab_std)
    if preset == "haiku":
        return {"embedding": _truncated(1.0), "bias": jax.nn.initializers.zeros}.get(role, _truncated(root))
    return {"embedding": _normal(1.0)}.get(role, _uniform(root))  # torch


def initializer(cfg: ModelConfig, name: str, role: str, fan_in: int, lab_std: float = 0.0) -> Init:
    """The initializer of one parameter: its override in cfg.init_overrides, else cfg.init's for its role.

    Args:
        cfg: the model config (its init preset and overrides).
        name: the parameter's name in its module (W_E, W_in, b_in, W_Q, ...), as overrides name it.
        role: one of ROLES.
        fan_in: the number of inputs each output unit reads (for a table [V, E]: V).
        lab_std: the standard deviation of the lab preset (its weights' N(0, lab_std^2)).
    """
    overrides = dict(cfg.init_overrides)
    if name in overrides:
        return from_text(overrides[name], fan_in)
    return _preset(cfg.init, role, fan_in, lab_std)
