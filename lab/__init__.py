"""lab: a JAX laboratory for training toy models in sweeps and taking them apart.

    import lab
    run = lab.sweep("sweeps/quickstart.toml")   # train (or resume) a sweep; returns its Run
    run = lab.open("checkpoints/quickstart")    # metrics, grid, steps, params(model, step)
    m = run.model(0)                            # one trained model: apply, run_with_cache, hooks, data
    from lab import tasks, models, train        # the pieces, for your own scripts
"""

from lab import config, models, tasks, train
from lab.checkpoints import Run, TrainedModel, open_run
from lab.errors import LabError
from lab.launch import sweep

open = open_run  # noqa: A001  (lab.open(DIR), as in the docs)

__version__ = "0.1.0"
__all__ = ["LabError", "Run", "TrainedModel", "config", "models", "open", "open_run", "sweep", "tasks", "train"]
