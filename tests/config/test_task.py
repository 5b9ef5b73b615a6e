"""lab.config.task: task settings that have no meaning are refused with the field named."""

from __future__ import annotations

import pytest

from lab.config import SpecError, TaskConfig


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(p=1), "task.p"),
        (dict(op="x/y", p=8), "task.p"),
        (dict(name="parity", n_bits=3, k=4), "task.k"),
        (dict(train_frac=0.0), "task.train_frac"),
        (dict(train_frac=1.5), "task.train_frac"),
        (dict(name="parity", n_bits=4, n_train=10, n_test=7), "task.n_train"),
        (dict(name="parity", n_bits=8, split_from="nanda_demo_start"), "task.split_from"),
        (dict(split_from=0.3), "task.split_from"),
    ],
)
def test_validate_refuses(kwargs, field):
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        TaskConfig(**kwargs).validate()
