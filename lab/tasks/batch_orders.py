"""A peer's order of the training rows in each epoch (train.batches_from), read and checked once per file."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lab import references
from lab.config import SpecError


def check_epoch_orders(name: str, n_train: int, steps: int, batch: int) -> None:
    """Raise SpecError unless train.batches_from's `epoch_orders` order n_train training rows for `steps` steps of
    `batch` rows (an epoch is ceil(n_train / batch) steps)."""
    field = f"train.batches_from = {name!r}"
    n_epochs, width = epoch_orders(name).shape
    if width != n_train:
        raise SpecError(f"{field} orders {width} training rows per epoch; this model trains on {n_train}")
    per_epoch = -(-n_train // batch)
    if n_epochs * per_epoch < steps:
        raise SpecError(f"{field} holds {n_epochs} epochs, {n_epochs * per_epoch} steps of {batch} rows; "
                        f"train.steps = {steps} asks for more: lower train.steps or drop train.batches_from")


@lru_cache(maxsize=4)
def epoch_orders(name: str) -> np.ndarray:
    """train.batches_from's epoch_order [E, n_train] (int32): epoch e's minibatches read the training rows at
    positions epoch_order[e] in turn, batch of them per step (the last step of an epoch reads the rest).

    Raises SpecError when the file has no 2-D epoch_order or a row of it is not a permutation of 0..n_train-1.
    """
    field = f"train.batches_from = {name!r}"
    arrays = references.arrays(name, "train.batches_from")
    order = arrays.get("epoch_order")
    if order is None or order.ndim != 2 or not order.size:
        raise SpecError(f"{field} needs a 2-D epoch_order [epochs, training rows]; its arrays: "
                        f"{', '.join(arrays) or 'none'}")
    if not (np.sort(order, axis=1) == np.arange(order.shape[1])).all():
        raise SpecError(f"{field}: each row of epoch_order must hold every training position 0..{order.shape[1] - 1} "
                        f"once")
    return order.astype(np.int32)
