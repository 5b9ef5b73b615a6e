"""Saving and restoring stacked states with Orbax (the only file of the lab that imports Orbax)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from lab.errors import LabError

logging.getLogger("absl").setLevel(logging.ERROR)  # Orbax logs every save at INFO


def _abstract(like: Any) -> Any:
    """ShapeDtypeStructs (with a sharding) for a concrete or abstract pytree."""
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])

    def one(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None) or default)

    return jax.tree.map(one, like)


class CheckpointStore:
    """The checkpoints of one group: one Orbax step folder per saved step under `path`."""

    def __init__(self, path: Path, read_only: bool = False):
        self.path = Path(path).absolute()
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=False, create=not read_only, read_only=read_only
        )
        self._manager = ocp.CheckpointManager(self.path, options=options)

    def steps(self) -> list[int]:
        """Saved steps, ascending."""
        return sorted(self._manager.all_steps(read=True))

    def save(self, step: int, state: Any) -> None:
        """Save the stacked state at step (synchronously; the state may be donated right after)."""
        self._manager.save(step, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()

    def restore(self, step: int, like: Any) -> Any:
        """The state saved at step, with the structure, shapes and dtypes of `like`."""
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(_abstract(like)))
        except Exception as e:  # Orbax raises many kinds; all mean the same to the user
            raise LabError(
                f"checkpoint of step {step} in {self.path} could not be read ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:160] if str(e) else ''}); delete that step's folder to fall back "
                "to the one before"
            ) from None

    def close(self) -> None:
        self._manager.close()
