"""What an analysis reads: a trained-model handle (`run.model(i, step)`), or params with one spec."""

from __future__ import annotations

from typing import Any

from lab.config import Spec
from lab.errors import LabError


def params_and_spec(model: Any, spec: Spec | None = None) -> tuple[dict[str, Any], Spec]:
    """(params, spec) of a `TrainedModel`, or of params given with their spec (e.g. `run.spec_of(i)`)."""
    if hasattr(model, "params") and hasattr(model, "spec"):
        if spec is not None:
            raise LabError("give a model handle (run.model(i)) or params with their spec, not both")
        return model.params, model.spec
    if not isinstance(spec, Spec):
        raise LabError(f"an analysis takes run.model(i), or params with their lab.config.Spec (run.spec_of(i)); "
                       f"got params with {type(spec).__name__}")
    return model, spec


def spec_of(model_or_spec: Any) -> Spec:
    """The spec of a model handle, or the spec itself."""
    spec = getattr(model_or_spec, "spec", model_or_spec)
    if not isinstance(spec, Spec):
        raise LabError(f"expected run.model(i) or a lab.config.Spec, got {type(model_or_spec).__name__}")
    return spec
