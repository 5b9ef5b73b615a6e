"""The per-model numbers of a sweep (`HParams`): scalars for one model, arrays [M] on a group's model axis."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from lab.config import HPARAM_FIELDS, Spec


class HParams(NamedTuple):
    """The swept numbers of one model (scalars), or of a group (arrays [M]); `HPARAM_FIELDS` names each one's
    dotted spec field."""

    lr: jax.Array
    weight_decay: jax.Array
    seed: jax.Array
    init_scale: jax.Array
    data_seed: jax.Array
    train_frac: jax.Array
    grokfast_alpha: jax.Array
    grokfast_lambda: jax.Array


if set(HParams._fields) != set(HPARAM_FIELDS):  # one list of per-model fields, checked at import
    raise ImportError(f"HParams fields {HParams._fields} differ from lab.config.HPARAM_FIELDS {tuple(HPARAM_FIELDS)}")


def hparams_of(spec: Spec, rows: list[dict[str, Any]]) -> HParams:
    """Per-model arrays [M] (float32, seeds int32): each row's dotted values, else the spec's."""
    cols = {name: np.asarray([row.get(HPARAM_FIELDS[name], spec.get(HPARAM_FIELDS[name])) for row in rows],
                             np.int32 if "seed" in name else np.float32)
            for name in HParams._fields}
    return HParams(**cols)
