"""The files of a run directory besides the Orbax checkpoints: run.json, grid.csv, metrics.csv.

    RUN/run.json                   spec, groups, package versions, creation time
    RUN/grid.csv                   one row per model: its group and swept values
    RUN/group_000/metrics.csv      one row per model and logged step
    RUN/group_000/checkpoints/     Orbax step folders of the stacked state
    RUN/group_000/resume/          the rolling resume checkpoint (while the group trains)
    RUN/group_000/retired.json     models retired early (train.retire_after), with their freeze steps
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

import jax
import pandas as pd

from lab.checkpoints.claim import LOCK_FILE
from lab.errors import LabError

RUN_FILE = "run.json"
RESUME_DIR = "resume"  # a group's rolling resume checkpoint, beside its analysis checkpoints
RETIRED_FILE = "retired.json"  # a group's models retired early: {group-local index: the step it froze at}
OPERATIONAL = (("train", "resume_every"),)  # spec fields that say how a run is kept, not what it computes
GRID_FILE = "grid.csv"
METRICS_FILE = "metrics.csv"


def group_dir(run_dir: Path, group: int) -> Path:
    return Path(run_dir) / f"group_{group:03d}"


def versions() -> dict[str, str]:
    """Versions of Python, the lab and the packages that decide its numbers, and the devices used."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("lab", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["devices"] = ", ".join(sorted({d.device_kind for d in jax.devices()})) + f" x{jax.device_count()}"
    return out


NUMERIC_VERSIONS = ("jax", "jaxlib", "flax", "optax", "numpy", "devices")  # what decides a run's last bits


def changed_versions(stored: dict[str, Any]) -> list[str]:
    """What of `versions()` that decides the numbers differs from a stored run's, as "name: then -> now"."""
    then, now = stored.get("versions", {}), versions()
    return [f"{name}: {then[name]} -> {now[name]}" for name in NUMERIC_VERSIONS
            if name in then and then[name] != now[name]]


def _plain(spec_dict: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(spec_dict))


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """The metadata of a run, or a LabError saying the folder is not a (readable) run."""
    path = Path(run_dir) / RUN_FILE
    if Path(run_dir).is_file():
        raise LabError(f"{run_dir} is a file, not a run folder; give the folder `lab sweep` wrote to")
    if not path.is_file():
        raise LabError(f"{run_dir} holds no lab run (no {RUN_FILE}); give the folder `lab sweep` wrote to")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LabError(f"{path} is corrupt ({e}); the run's checkpoints are untouched") from None


def _identity(spec_dict: dict[str, Any]) -> dict[str, Any]:
    """A spec dict without its operational fields: two runs that differ only there are the same run."""
    out = _plain(spec_dict)
    for section, key in OPERATIONAL:
        out.get(section, {}).pop(key, None)
    return out


def _first_difference(a: dict, b: dict, prefix: str = "") -> str:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "<missing>"), b.get(key, "<missing>")
        if isinstance(va, dict) and isinstance(vb, dict):
            found = _first_difference(va, vb, f"{prefix}{key}.")
            if found:
                return found
        elif va != vb:
            return f"{prefix}{key}: {va!r} there, {vb!r} here"
    return ""


def check_run_dir(run_dir: Path, spec_dict: dict[str, Any], normalize=None) -> dict[str, Any] | None:
    """The metadata of a run of the same spec in run_dir (to resume), or None if run_dir is free.

    A folder that is not empty and holds another spec, or no run at all, is refused untouched.
    normalize(stored spec dict) -> spec dict fills in fields added to the lab after the run was
    written (with their defaults), so that an older run of the same spec still resumes.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise LabError(f"{run_dir} is a file, not a folder; pass another --out (a folder for the run)")
    if not (run_dir.exists() and any(p.name != LOCK_FILE for p in run_dir.iterdir())):
        return None
    stored = read_run_json(run_dir)
    stored_spec = stored.get("spec", {})
    if normalize is not None:
        try:
            stored_spec = normalize(stored_spec)
        except LabError:
            pass  # not a spec this lab reads: the difference below names what differs
    diff = _first_difference(_identity(stored_spec), _identity(spec_dict))
    if diff:
        raise LabError(
            f"{run_dir} holds a run of another spec ({diff}); nothing was changed: pass another --out "
            "or delete that folder"
        )
    return stored


def is_primary() -> bool:
    """Whether this process writes the run's files (process 0 of a multi-process run)."""
    return jax.process_index() == 0


def sync(name: str) -> None:
    """Wait for every process (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def create_run_dir(run_dir: Path, spec_dict: dict[str, Any], groups: list[dict], grid: pd.DataFrame) -> None:
    """Write run.json (spec, groups, versions) and grid.csv of a new run (the primary process does)."""
    run_dir = Path(run_dir)
    if not is_primary():
        return sync("lab:run_dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "spec": _plain(spec_dict),
        "groups": groups,
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    grid.to_csv(run_dir / GRID_FILE, index=False)
    (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=2) + "\n")  # last: it marks a complete start
    sync("lab:run_dir")


def read_grid(run_dir: Path) -> pd.DataFrame:
    """One row per model: model, group and the swept values."""
    return pd.read_csv(Path(run_dir) / GRID_FILE)


def read_metrics(group_path: Path) -> pd.DataFrame | None:
    """A group's metrics table, or None if it has none yet."""
    path = Path(group_path) / METRICS_FILE
    return pd.read_csv(path) if path.is_file() else None


def write_metrics(group_path: Path, table: pd.DataFrame, append: bool) -> None:
    """Append rows to (or atomically rewrite) a group's metrics table (the primary process does)."""
    if not is_primary():
        return
    path = Path(group_path) / METRICS_FILE
    group_path.mkdir(parents=True, exist_ok=True)
    if append and path.is_file():
        header = path.open().readline().strip().split(",")
        if header == list(table.columns):
            size = path.stat().st_size
            try:
                table.to_csv(path, mode="a", header=False, index=False)
            except OSError:
                os.truncate(path, size)  # no half-written row left behind (a full disk): the table stays as it was
                raise
            return
        table = pd.concat([pd.read_csv(path), table], ignore_index=True)  # a column was added since: rewrite
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
