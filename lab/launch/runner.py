"""Running a sweep: every group's models trained together, checkpointed and logged, resumable.

Each group keeps its analysis checkpoints (log-spaced steps, `run.steps`) and one rolling resume
checkpoint (RUN/group_N/resume, every `train.resume_every` seconds and on SIGTERM; removed when the
group finishes), and resumes from the newest readable of them.
"""

from __future__ import annotations

import contextlib
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lab.checkpoints import layout
from lab.checkpoints.claim import claim
from lab.checkpoints.orbax_io import CheckpointStore
from lab.config import Spec, TrainConfig
from lab.errors import LabError
from lab.launch.preemption import Preempted, Preemption
from lab.launch.retire import Retirement, read_retired, write_retired
from lab.sweeps.grid import Group, expand, regroup, split_groups
from lab.sweeps.spec import spec_from_dict
from lab.train import METRICS, build_programs, memory, precision_scope, run_chunks, sharding


def checkpoint_steps(cfg: TrainConfig) -> list[int]:
    """Step 0, cfg.checkpoints log-spaced multiples of log_every, and the last step."""
    n_chunks = cfg.steps // cfg.log_every
    spaced = np.geomspace(1, n_chunks, cfg.checkpoints) if cfg.checkpoints else np.array([])
    chunks = {int(round(c)) for c in spaced} | {n_chunks}
    return sorted({0} | {c * cfg.log_every for c in chunks})


def grid_table(groups: list[Group]) -> pd.DataFrame:
    """One row per model: its index, its group and its swept values."""
    rows = [{"model": m, "group": g.index, **row} for g in groups for m, row in zip(g.models, g.rows)]
    return pd.DataFrame(rows).sort_values("model").reset_index(drop=True)


def _metrics_rows(step: int, models: tuple[int, ...], metrics: dict[str, np.ndarray],
                  groups: tuple[str, ...]) -> pd.DataFrame:
    table = pd.DataFrame({k: np.asarray(metrics[k]) for k in (*METRICS, "nonfinite")})
    for key in ("test_loss_tasks", "test_acc_tasks"):  # per test group: test_acc_task_0, ..., test_acc_k1, ...
        if key in metrics:
            per_MxT = np.asarray(metrics[key])
            for t, name in enumerate(groups):
                table[f"{key[:-6]}_{name}"] = per_MxT[:, t]
    if "test_loss_zipf" in metrics:
        table["test_loss_zipf"] = np.asarray(metrics["test_loss_zipf"])
    table.insert(0, "model", models)
    table.insert(0, "step", step)
    return table


class _Diverged:
    """Tracks models whose loss went non-finite, and says so once per model."""

    def __init__(self, groups: list[Group], bar: tqdm):
        self.seen: set[int] = set()
        self.rows = {m: row for g in groups for m, row in zip(g.models, g.rows)}
        self.bar = bar

    def update(self, step: int, steps: int, models: tuple[int, ...], nonfinite: np.ndarray) -> None:
        for m in np.asarray(models)[np.asarray(nonfinite, bool)]:
            if int(m) not in self.seen:
                self.seen.add(int(m))
                values = ", ".join(f"{k}={v}" for k, v in self.rows[int(m)].items())
                self.bar.write(f"model {m} ({values}) diverged before step {step}: its loss is not finite")
        self.bar.set_postfix_str(f"step {step}/{steps}, diverged {len(self.seen)}", refresh=False)


def _restore_newest(stores: list[CheckpointStore], like, bar: tqdm):
    """(step, state) of the newest readable checkpoint of any store, or (0, None); unreadable ones are moved
    aside and named."""
    saved = sorted(((step, i) for i, store in enumerate(stores) for step in store.steps()), reverse=True)
    for step, i in saved:
        try:
            return step, stores[i].restore(step, like=like)
        except LabError:
            if layout.is_primary():  # the process that writes the run moves it; the others fall back alike
                aside = stores[i].move_aside(step)
                bar.write(f"the checkpoint of step {step} could not be read: moved it to {aside}; resuming from "
                          f"the one before")
    return 0, None


def train_group(group: Group, run_dir: Path, bar: tqdm, diverged: _Diverged, when: Preemption) -> None:
    """Train (or resume) one group to its last step, saving checkpoints and metrics.

    The model axis is sharded over every device, padded to a multiple of the device count;
    checkpoints and metrics hold the real models only, so a run resumes on any device count.
    A float64 spec (train.dtype) is traced and run with jax_enable_x64 on.
    """
    with precision_scope(group.spec):
        _train_group(group, run_dir, bar, diverged, when)


def _place(host: Any, rows: list[int], mesh) -> Any:
    """The given models' rows of host arrays [M, ...], padded to the mesh and put on it."""
    return sharding.to_mesh(sharding.pad_models(jax.tree.map(lambda x: np.asarray(x)[rows], host),
                                                sharding.padded_size(len(rows), mesh)), mesh)


def _train_group(group: Group, run_dir: Path, bar: tqdm, diverged: _Diverged, when: Preemption) -> None:
    spec, cfg, n = group.spec, group.spec.train, group.size
    groups = spec.task.test_groups
    gdir = layout.group_dir(run_dir, group.index)
    store, resume = CheckpointStore(gdir / "checkpoints"), CheckpointStore(gdir / layout.RESUME_DIR)
    saves = checkpoint_steps(cfg)
    mesh = sharding.model_mesh()
    n_padded = sharding.padded_size(n, mesh)
    model_batch = memory.auto_model_batch(spec, group.n_train_max(), n_padded // mesh.size)
    row_block = memory.auto_row_block(spec, group.n_train_max())
    programs = build_programs(spec, group.n_train_max(), group.shares_data, model_batch, mesh, row_block)
    hp_host = group.hparams()
    hp_M = sharding.to_mesh(sharding.pad_models(hp_host, n_padded), mesh)
    bar.set_description(f"group {group.index + 1}: {n} models")
    if group.shares_data:  # one dataset, replicated on every device
        data_M = sharding.replicate(jax.device_get(programs.data(jax.tree.map(lambda x: x[0], hp_host))), mesh)
    else:
        data_M = programs.data(hp_M)
    state_M = programs.init(hp_M)
    start, host = _restore_newest([store, resume], jax.eval_shape(lambda s: jax.tree.map(lambda x: x[:n], s), state_M),
                                  bar)
    retired = read_retired(gdir) if host is not None else {}
    retired = {m: s for m, s in retired.items() if s <= start}  # a freeze recorded past the checkpoint did not happen
    old = None
    if host is not None:
        state_M = sharding.to_mesh(sharding.pad_models(host, hp_M.seed.shape[0]), mesh)
        old = layout.read_metrics(gdir)  # may hold rows past the checkpoint if a run stopped mid-save
        if old is not None:
            old = old[old.step <= start]
            layout.write_metrics(gdir, old, append=False)
    else:
        start = 0
        fetch = partial(sharding.to_host, n_models=n)
        metrics = fetch(programs.evaluate(state_M.params, data_M)) | {"nonfinite": np.zeros(n, bool)}
        layout.write_metrics(gdir, _metrics_rows(0, group.models, metrics, groups), append=False)
        host = fetch(state_M)
        store.save(0, host)
    rule = Retirement(cfg, n) if cfg.retire_after else None
    on_device = list(range(n))  # group-local indices of the models the devices hold, in order
    live = [i for i in on_device if i not in retired]  # those still training (the others are frozen in host)
    skips = model_batch == 1  # models one at a time: the chunk skips frozen ones and padding rows (no compaction)
    bar.update(start * n + sum(cfg.steps - s for s in retired.values()))
    step, pending = start, []
    deciding = rule.replay(old, group.models, retired) if rule is not None and old is not None else {}
    index = {m: m for m in on_device}  # each model's own device row (the others are copies)

    def relayout():
        """(rows, index) of a new layout of the live models, or None to keep this one. Models trained one at a time
        are dealt evenly over the devices (the row count kept: no recompile); vmapped batches on one device are
        compacted once that at most halves the rows (at most log2(n) recompiles). (On two host CPU devices with
        vmapped batches of 2, a model compacted beside others had a test loss one float32 step off the run
        without retirement; cause not found, so such groups keep their layout and their numbers.)"""
        if not live or mesh.size == 1 and skips:
            return None
        if skips:
            return _balanced(live, n_padded, mesh.size)
        if mesh.size > 1:
            return None
        rows, where = _compacted(live, n, model_batch)
        return (rows, where) if 2 * len(rows) <= len(on_device) else None

    smaller = relayout() if len(live) < n else None  # a resumed group may start with models retired
    while step < cfg.steps:
        if not live:  # every model froze before an earlier run could write the last checkpoint
            store.save(cfg.steps, host)
            break
        if smaller is not None:
            (on_device, index), smaller = smaller, None
            state_M, hp_M = _place(host, on_device, mesh), _place(hp_host, on_device, mesh)
            data_M = data_M if group.shares_data else programs.data(hp_M)
        if len(live) < n:
            bar.set_description(f"group {group.index + 1}: {len(live)} of {n} models training")
        fetch = partial(sharding.to_host, n_models=len(on_device))
        live_M = _live_rows([index[m] for m in live], hp_M.seed.shape[0], mesh) if skips else None
        chunks = run_chunks(programs, state_M, data_M, hp_M, step, cfg.steps, cfg.log_every, saves, fetch=fetch,
                            want_state=lambda s: bool(deciding) | when.want_state(s), live_M=live_M)
        for step, metrics, state in chunks:
            at = np.asarray([index[m] for m in live])  # the live models' device rows
            mine = {k: np.asarray(v)[at] for k, v in metrics.items()}
            models = tuple(group.models[m] for m in live)
            pending.append(_metrics_rows(step, models, mine, groups))
            diverged.update(step, cfg.steps, models, mine["nonfinite"])
            bar.update(cfg.log_every * len(live))
            if rule is not None:
                for m in rule.update(np.asarray(live), mine):
                    deciding.setdefault(m, step)
            if state is None:
                continue
            now = fetch(state)
            if rule is None:
                host = now
            else:  # the live models' rows; frozen ones keep theirs
                host = jax.tree.map(lambda full, rows: _set_rows(full, live, np.asarray(rows)[at]), host, now)
            freezing = [m for m, at in deciding.items() if at < step]  # one chunk after the decision, always
            if freezing:  # they freeze here, with this state
                retired.update({m: step for m in freezing})
                live = [m for m in live if m not in freezing]
                bar.update(len(freezing) * (cfg.steps - step))
                deciding = {m: at for m, at in deciding.items() if m not in freezing}
                write_retired(gdir, retired)
            layout.write_metrics(gdir, pd.concat(pending), append=True)  # metrics first: see resume
            pending = []
            if step in saves:
                store.save(step, host)
            elif step < cfg.steps:  # a resume point between analysis checkpoints: the older one goes once it is saved
                resume.save(step, host)
                resume.keep_only(step)
            when.saved()
            if when.stopping and step < cfg.steps:
                raise Preempted(f"stopped on SIGTERM: group {group.index + 1} saved at step {step} of {cfg.steps}; "
                                "run the same command to resume")
            if not live:  # every model decided: the last checkpoint holds them all
                if step != cfg.steps:
                    store.save(cfg.steps, host)  # the final checkpoint, so the run reads as finished
                step = cfg.steps
                break
            if freezing:
                smaller = relayout()
                if smaller is not None or skips:
                    state_M = state  # the devices' state at this step (no later chunk has consumed it)
                    break  # go on from this step in the new layout, or skipping the frozen models
    store.close()
    resume.close()
    if layout.is_primary():
        shutil.rmtree(gdir / layout.RESUME_DIR, ignore_errors=True)  # the group is done: nothing to resume


def _live_rows(rows: list[int], n_rows: int, mesh) -> Any:
    """A mask of the device rows that train (the live models' own rows; not the frozen, copies or padding)."""
    mask = np.zeros(n_rows, bool)
    mask[rows] = True
    return sharding.to_mesh(mask, mesh)


def _balanced(live: list[int], n_rows: int, devices: int) -> tuple[list[int], dict[int, int]]:
    """(device rows, {live model: its own row}) with the live models dealt round-robin over the devices' equal
    slices of n_rows, each slice filled with copies of one of its models (skipped), so that no device trains
    more than one model more than another. A model's numbers do not depend on its device when models train one
    at a time."""
    per = n_rows // devices
    rows: list[int] = []
    where: dict[int, int] = {}
    for d in range(devices):
        mine = live[d::devices]
        where.update({m: len(rows) + i for i, m in enumerate(mine)})
        rows += mine + [(mine or live)[0]] * (per - len(mine))
    return rows, where


def _compacted(live: list[int], n: int, batch: int) -> tuple[list[int], dict[int, int]]:
    """(device rows, {live model: its own row}) keeping every live model in a batch of the size it trained in.

    A group of n models on one device trains in vmapped batches of `batch` and one smaller remainder batch (see
    `chunk_of_steps`). A model's numbers depend on its batch's size only, so the live models of the full batches
    fill full batches again and those of the remainder a remainder of the same size, padded with copies (whose
    numbers are dropped). With one batch for the group nothing can be dropped: all n rows.
    """
    if not 0 < batch < n:
        return list(range(n)), {m: m for m in live}
    cut = n // batch * batch
    rows: list[int] = []
    where: dict[int, int] = {}
    full, rest = [m for m in live if m < cut], [m for m in live if m >= cut]
    for part, size in ((full, -(-len(full) // batch) * batch), (rest, n - cut if rest else 0)):
        where.update({m: len(rows) + i for i, m in enumerate(part)})
        rows += part + [part[-1] if part else live[-1]] * (size - len(part))
    return rows, where


def _set_rows(full: np.ndarray, rows: list[int], values: np.ndarray) -> np.ndarray:
    """full with its given rows replaced by values (a copy)."""
    out = np.array(full)
    out[rows] = values
    return out


def plan_groups(spec: Spec, stored: dict | None, say=print) -> list[Group]:
    """The groups to train: those stored in a run being resumed, or the spec's groups split to fit memory."""
    if stored is not None:
        return regroup(expand(spec), [g["models"] for g in stored["groups"]])
    n_devices = sharding.model_mesh().size

    def limit(group: Group) -> int:
        fit = memory.max_models(group.spec, group.n_train_max(), n_devices, group.shares_data)
        if fit < group.size:
            per_model = memory.bytes_per_model(group.spec, group.n_train_max(), group.shares_data) / 2**20
            say(f"group {group.index + 1} ({group.size} models, ~{per_model:.0f} MiB each) does not fit in "
                f"{memory.memory_budget() / 2**30:.1f} GiB: training it in batches of {fit} models")
        return fit

    return split_groups(expand(spec), limit)


def run_sweep(spec: Spec, run_dir: Path, progress: bool = True) -> Path:
    """Train every group of the spec into run_dir (resuming what is there); returns run_dir.

    A folder that another live `lab sweep` is writing is refused at once (see `lab.checkpoints.claim`);
    on several processes only process 0 claims it.
    """
    normalize = lambda d: spec_from_dict(d).to_dict()  # noqa: E731
    layout.check_run_dir(run_dir, spec.to_dict(), normalize=normalize)  # refuse a foreign folder untouched
    with claim(run_dir) if layout.is_primary() else contextlib.nullcontext():
        stored = layout.check_run_dir(run_dir, spec.to_dict(), normalize=normalize)  # now no one else writes
        try:
            return _run_claimed(spec, Path(run_dir), stored, progress)
        except OSError as e:  # a full disk, a folder made read-only, a storage that went away
            where = e.filename or run_dir
            raise LabError(f"could not write {where} ({e.strerror or e}); what was saved before is intact: free "
                           "space or fix the folder, then run the same command to resume") from None


def _run_claimed(spec: Spec, run_dir: Path, stored: dict | None, progress: bool) -> Path:
    talk = progress and layout.is_primary()
    groups = plan_groups(spec, stored, say=print if talk else (lambda _: None))
    grid = grid_table(groups)
    if stored is None:
        meta_groups = [{"index": g.index, "models": list(g.models), "size": g.size} for g in groups]
        layout.create_run_dir(run_dir, spec.to_dict(), meta_groups, grid)
    total = sum(g.size * g.spec.train.steps for g in groups)
    with tqdm(total=total, unit="model-step", unit_scale=True, disable=not (progress and layout.is_primary()),
              mininterval=0.5) as bar, Preemption(spec.train.resume_every) as when:
        if stored is not None:
            bar.write(f"resuming the run in {run_dir}")
            changed = layout.changed_versions(stored)
            if changed:
                bar.write(f"note: this run started with other versions or devices ({'; '.join(changed)}): from here "
                          "its numbers may differ in the last bits from an uninterrupted run")
        diverged = _Diverged(groups, bar)
        for group in groups:
            if when.stopping:
                raise Preempted(f"stopped on SIGTERM before group {group.index + 1} of {len(groups)}; run the same "
                                "command to resume")
            train_group(group, Path(run_dir), bar, diverged, when)
    return Path(run_dir)
