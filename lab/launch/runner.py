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


def _train_group(group: Group, run_dir: Path, bar: tqdm, diverged: _Diverged, when: Preemption) -> None:
    spec, cfg, n = group.spec, group.spec.train, group.size
    groups = spec.task.test_groups
    gdir = layout.group_dir(run_dir, group.index)
    store, resume = CheckpointStore(gdir / "checkpoints"), CheckpointStore(gdir / layout.RESUME_DIR)
    saves = checkpoint_steps(cfg)
    mesh = sharding.model_mesh()
    n_padded = sharding.padded_size(n, mesh)
    model_batch = memory.auto_model_batch(spec, group.n_train_max(), n_padded // mesh.size)
    programs = build_programs(spec, group.n_train_max(), group.shares_data, model_batch, mesh)
    hp_M = sharding.to_mesh(sharding.pad_models(group.hparams(), n_padded), mesh)
    bar.set_description(f"group {group.index + 1}: {n} models")
    if group.shares_data:  # one dataset, replicated on every device
        data_M = sharding.replicate(jax.device_get(programs.data(jax.tree.map(lambda x: x[0], group.hparams()))), mesh)
    else:
        data_M = programs.data(hp_M)
    state_M = programs.init(hp_M)
    fetch = partial(sharding.to_host, n_models=n)
    start, host = _restore_newest([store, resume], jax.eval_shape(lambda s: jax.tree.map(lambda x: x[:n], s), state_M),
                                  bar)
    if host is not None:
        state_M = sharding.to_mesh(sharding.pad_models(host, hp_M.seed.shape[0]), mesh)
        old = layout.read_metrics(gdir)  # may hold rows past the checkpoint if a run stopped mid-save
        if old is not None:
            layout.write_metrics(gdir, old[old.step <= start], append=False)
    else:
        start = 0
        metrics = fetch(programs.evaluate(state_M.params, data_M)) | {"nonfinite": np.zeros(n, bool)}
        layout.write_metrics(gdir, _metrics_rows(0, group.models, metrics, groups), append=False)
        store.save(0, fetch(state_M))
    bar.update(start * n)
    pending = []
    chunks = run_chunks(programs, state_M, data_M, hp_M, start, cfg.steps, cfg.log_every, saves, fetch=fetch,
                        want_state=when.want_state)
    for step, metrics, state in chunks:
        pending.append(_metrics_rows(step, group.models, metrics, groups))
        diverged.update(step, cfg.steps, group.models, metrics["nonfinite"])
        bar.update(cfg.log_every * n)
        if state is None:
            continue
        layout.write_metrics(gdir, pd.concat(pending), append=True)  # metrics first: see resume
        pending = []
        if step in saves:
            store.save(step, fetch(state))
        elif step < cfg.steps:  # a resume point between analysis checkpoints: the older one goes once it is saved
            resume.save(step, fetch(state))
            resume.keep_only(step)
        when.saved()
        if when.stopping and step < cfg.steps:
            raise Preempted(f"stopped on SIGTERM: group {group.index + 1} saved at step {step} of {cfg.steps}; run "
                            "the same command to resume")
    store.close()
    resume.close()
    if layout.is_primary():
        shutil.rmtree(gdir / layout.RESUME_DIR, ignore_errors=True)  # the group is done: nothing to resume


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
        diverged = _Diverged(groups, bar)
        for group in groups:
            if when.stopping:
                raise Preempted(f"stopped on SIGTERM before group {group.index + 1} of {len(groups)}; run the same "
                                "command to resume")
            train_group(group, Path(run_dir), bar, diverged, when)
    return Path(run_dir)
