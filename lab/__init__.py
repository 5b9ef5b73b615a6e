"""lab: a JAX laboratory for training toy models in sweeps and taking them apart.

    import lab
    run = lab.open("checkpoints/quickstart")   # metrics, grid, steps, params(model, step)
    from lab import tasks, models, train        # the pieces, for your own scripts
"""

from lab import config, models, tasks, train
from lab.checkpoints import Run, open_run
from lab.errors import LabError

open = open_run  # noqa: A001  (lab.open(DIR), as in the docs)

__version__ = "0.1.0"
__all__ = ["LabError", "Run", "config", "models", "open", "open_run", "tasks", "train"]
