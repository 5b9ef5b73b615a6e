"""Run directories: Orbax checkpoints of stacked states, metadata and metrics, and `open(dir)`."""

from lab.checkpoints.run import Run, open_run

__all__ = ["Run", "open_run"]
