"""The initializer strings of `model.init_overrides`, parsed without JAX (the config layer reads them)."""

from __future__ import annotations

import math

# Initializer strings of model.init_overrides: NAME or NAME(number); "fan_in" forms scale by 1/sqrt(fan_in).
INITIALIZERS = {
    "zeros": False,  # name -> whether it takes a number
    "normal": True,  # N(0, s^2)
    "truncated_normal": True,  # s * N(0, 1) truncated to [-2, 2] (Haiku's TruncatedNormal(s), JAX's)
    "uniform": True,  # U(-s, s)
    "normal_fan_in": False,  # N(0, 1 / fan_in)
    "truncated_normal_fan_in": False,  # truncated_normal(1 / sqrt(fan_in)): hk.Linear's default
    "uniform_fan_in": False,  # U(+-1 / sqrt(fan_in)): torch.nn.Linear's default (weights and biases)
    "variance_scaling": True,  # variance s / fan_in, truncated normal: hk.initializers.VarianceScaling(s)
}


def parse_initializer(text: str) -> tuple[str, float | None]:
    """'variance_scaling(2)' -> ('variance_scaling', 2.0); 'zeros' -> ('zeros', None); ValueError if unknown."""
    name, _, rest = text.strip().partition("(")
    name = name.strip()
    forms = ", ".join(f"{n}(s)" if takes else n for n, takes in INITIALIZERS.items())
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {text!r}; use one of {forms}")
    if not INITIALIZERS[name]:
        if rest:
            raise ValueError(f"initializer {name!r} takes no number (got {text!r})")
        return name, None
    number, closed, after = rest.partition(")")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"initializer {text!r} needs a number, e.g. {name}(1.0)") from None
    if not closed or after.strip() or not math.isfinite(value) or value <= 0:
        raise ValueError(f"initializer {text!r} needs a positive finite number in parentheses, e.g. {name}(1.0)")
    return name, value
