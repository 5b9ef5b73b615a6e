"""lab.analysis.target: an analysis reads a model handle or params with one spec, and says so in one line when given
anything else."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from lab import models
from lab.analysis import summarize
from lab.analysis.target import params_and_spec, spec_of
from lab.config import ModelConfig, Spec, TaskConfig
from lab.errors import LabError

SPEC = Spec(task=TaskConfig(p=11), model=ModelConfig(kind="mlp", d_embed=8, width=16))


class Handle:  # what `run.model(i)` offers an analysis
    def __init__(self, params, spec):
        self.params, self.spec = params, spec


def test_a_handle_and_params_with_their_spec_give_the_same_analysis():
    params = models.init(jax.random.key(0), SPEC.model, SPEC.task)
    by_handle, by_params = summarize(Handle(params, SPEC)), summarize(params, SPEC)
    np.testing.assert_array_equal(by_handle["norms"], by_params["norms"])
    assert params_and_spec(Handle(params, SPEC)) == (params, SPEC) and spec_of(Handle(params, SPEC)) is SPEC


def test_the_old_config_forms_and_mixed_calls_are_refused_in_one_line():
    params = models.init(jax.random.key(0), SPEC.model, SPEC.task)
    with pytest.raises(LabError, match=r"takes run.model\(i\), or params with their lab.config.Spec .*got params "
                                       "with ModelConfig"):
        summarize(params, SPEC.model)
    with pytest.raises(LabError, match="not both"):
        params_and_spec(Handle(params, SPEC), SPEC)
    with pytest.raises(LabError, match="expected run.model\\(i\\) or a lab.config.Spec, got TaskConfig"):
        spec_of(SPEC.task)
