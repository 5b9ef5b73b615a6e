"""The PAIR explorable's 1,125-model parity sweep as one timed `lab sweep` command, beside its FLOP count.

    .venv/bin/python bench/pair_sweep.py [--retire] [--cpu-devices N] [--set KEY=VALUE ...] [--out DIR]

Runs `lab sweep sweeps/pair_parity.toml` in a subprocess (a fresh run directory; `--out` keeps it), times it
from start to exit, and prints the matmul FLOPs the run did (every dot of the traced train step and evaluation
of each group, times the model-steps each model trained: with retirement, up to the step it froze), the
measured float32 matmul peak of this machine and the time those FLOPs would take at that peak.

--retire: retire models that generalized (test accuracy 1 and test loss <= 1e-5 for 3 logs in a row; the
  page's phase rule needs a min test loss below 1e-5, so the phase classes stay as they were).
--cpu-devices N: `lab sweep --cpu-devices N`, the CPU as N devices of one thread each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # throughput.py beside this file

from throughput import _dot_flops, matmul_peak_gflops  # noqa: E402

import lab  # noqa: E402
from lab import train  # noqa: E402
from lab.sweeps.grid import expand  # noqa: E402
from lab.sweeps.spec import load_spec  # noqa: E402

SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "pair_parity.toml"
RETIRE = ["train.retire_after=3", "train.retire_loss=1e-5"]


def group_flops(group) -> tuple[int, int]:
    """(FLOPs of one model's train step, of one evaluation) of a group, read off the traced programs."""
    spec = group.spec
    hp = jax.tree.map(lambda a: a[0], group.hparams())
    state = jax.eval_shape(partial(train.init_state, spec), hp)
    data = jax.eval_shape(partial(train.make_data, spec, n_train_max=group.n_train_max()), hp)
    step = jax.make_jaxpr(lambda s, d, h: train.train_step(spec, s, d, h))(state, data, hp)
    evaluation = jax.make_jaxpr(lambda p, d: train.evaluate(spec, p, d))(state.params, data)
    return _dot_flops(step.jaxpr), _dot_flops(evaluation.jaxpr)


def run_flops(spec, run_dir: Path) -> tuple[float, float, int]:
    """(FLOPs the run did, FLOPs without retirement, model-steps trained) from its groups and retired models."""
    done = full = 0.0
    model_steps = 0
    steps, every = spec.train.steps, spec.train.log_every
    retired = lab.open(run_dir).retired  # {model: step it froze at}
    for group in expand(spec):
        per_step, per_eval = group_flops(group)
        trained = [retired.get(model, steps) for model in group.models]
        done += sum(s * per_step + (s // every + 1) * per_eval for s in trained)
        full += group.size * (steps * per_step + (steps // every + 1) * per_eval)
        model_steps += sum(trained)
    return done, full, model_steps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--retire", action="store_true", help="retire models that generalized (see above)")
    ap.add_argument("--cpu-devices", type=int, default=0, help="lab sweep --cpu-devices N (0: one device)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more spec overrides")
    ap.add_argument("--out", default="", help="run directory to keep (default: a temporary one)")
    args = ap.parse_args(argv)
    overrides = (RETIRE if args.retire else []) + args.set
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or Path(tmp) / "pair_parity")
        if out.exists():
            sys.exit(f"pair_sweep: {out} exists; name a new --out (the sweep is timed from scratch)")
        command = [sys.executable, "-m", "lab.cli", "sweep", str(SPEC), "--out", str(out), "--quiet"]
        command += [a for o in overrides for a in ("--set", o)]
        command += ["--cpu-devices", str(args.cpu_devices)] if args.cpu_devices else []
        print("$ lab", " ".join(command[3:]), flush=True)
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        done, full, model_steps = run_flops(load_spec(SPEC, overrides), out)
    peak = matmul_peak_gflops()
    print(f"wall time {wall / 60:.1f} min for {model_steps:,} model-steps")
    print(f"useful matmul FLOPs {done / 1e12:.1f} TFLOP (without retirement: {full / 1e12:.1f} TFLOP); "
          f"{done / wall / 1e9:.1f} GFLOP/s")
    print(f"matmul peak {peak:.1f} GFLOP/s: those FLOPs take {done / peak / 1e9 / 60:.1f} min at the peak "
          f"({100 * done / peak / 1e9 / wall:.0f}% of it; every model to its last step: {full / peak / 1e9 / 60:.1f} min)")
    print(f"machine: {os.cpu_count()} CPUs, {jax.device_count()} XLA device(s) in this process; jax {jax.__version__}")


if __name__ == "__main__":
    main()
