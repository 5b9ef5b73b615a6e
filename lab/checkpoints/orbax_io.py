"""Saving and restoring stacked states with Orbax (the only file of the lab that imports Orbax)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from lab.errors import LabError

logging.getLogger("absl").setLevel(logging.ERROR)  # Orbax logs every save at INFO
UNREADABLE = "unreadable_step_"  # a checkpoint that could not be read, moved beside the store


def _host_target(like: Any) -> Any:
    """Host (numpy) arrays shaped like a concrete or abstract pytree: restores land on the host."""
    return jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), like)


class CheckpointStore:
    """The checkpoints of one group: one Orbax step folder per saved step under `path`."""

    def __init__(self, path: Path, read_only: bool = False):
        self.path = Path(path).absolute()
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=False, create=not read_only, read_only=read_only
        )
        self._options = options
        self._manager = ocp.CheckpointManager(self.path, options=options)

    def steps(self) -> list[int]:
        """Saved steps, ascending."""
        return sorted(self._manager.all_steps(read=True))

    def save(self, step: int, state: Any) -> None:
        """Save a state of host arrays at step (every process calls it; the primary one writes)."""
        self._manager.save(step, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> Any:
        """The state saved at step as numpy arrays, with the structure, shapes and dtypes of `like`."""
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(_host_target(like)))
        except Exception as e:  # Orbax raises many kinds; all mean the same to the user
            raise self._unreadable(step, e) from None

    def _unreadable(self, step: int, e: Exception) -> LabError:
        return LabError(
            f"checkpoint of step {step} in {self.path} could not be read ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:160] if str(e) else ''}); `lab sweep` on this run moves it aside and "
            "resumes from the one before")

    def restore_part(self, step: int, key: str, like: Any) -> Any:
        """One entry of the state saved at step (e.g. "params", without the optimizer's moments), shaped like `like`."""
        target = {key: _host_target(like)}
        restore_args = jax.tree.map(lambda x: ocp.RestoreArgs(restore_type=np.ndarray, dtype=x.dtype), target)
        try:
            with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as reader:
                return reader.restore(self.path / str(step) / "default", args=ocp.args.PyTreeRestore(
                    item=target, restore_args=restore_args, partial_restore=True))[key]
        except Exception as e:  # Orbax raises many kinds; all mean the same to the user
            raise self._unreadable(step, e) from None

    def keep_only(self, step: int) -> None:
        """Delete every saved step but `step` (after `step` was saved: a rolling checkpoint)."""
        for old in self.steps():
            if old != step:
                self._manager.delete(old)

    def move_aside(self, step: int) -> Path:
        """Move an unreadable step's folder out of the store (beside it, as unreadable_step_N); returns where."""
        target = self.path.parent / f"{UNREADABLE}{step}"
        n = 1
        while target.exists():  # a step moved aside before, and written again since
            target, n = self.path.parent / f"{UNREADABLE}{step}.{n}", n + 1
        (self.path / str(step)).rename(target)
        self._manager.close()
        self._manager = ocp.CheckpointManager(self.path, options=self._options)
        return target

    def close(self) -> None:
        self._manager.close()
