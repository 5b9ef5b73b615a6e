"""The dataset container shared by every task."""

from __future__ import annotations

from typing import NamedTuple

import jax


class Data(NamedTuple):
    """One model's dataset. Padded rows have weight 0.

    Attributes:
        x_train: [N_tr, ...] inputs (int32 operands or tokens, or float32 bits).
        y_train: [N_tr] int32 labels.
        w_train: [N_tr] float32, 1.0 for real examples, 0.0 for padding.
        t_train: [N_tr] int32 task id (0 for single-task data).
        x_test: [N_te, ...] inputs.
        y_test: [N_te] int32 labels.
        w_test: [N_te] float32, 1.0 for examples that count, 0.0 otherwise.
        t_test: [N_te] int32 task id (0 for single-task data).
    """

    x_train: jax.Array
    y_train: jax.Array
    w_train: jax.Array
    t_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    w_test: jax.Array
    t_test: jax.Array
