"""Run directories: Orbax checkpoints of stacked states, metadata and metrics, `open(dir)` and the
handle of one trained model."""

from lab.checkpoints.handle import TrainedModel
from lab.checkpoints.run import Run, open_run

__all__ = ["Run", "TrainedModel", "open_run"]
