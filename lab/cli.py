"""The `lab` command: `lab sweep SPEC [--out DIR] [--set key=value ...]` and `lab report DIR [--model N]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lab.errors import LabError, Preempted


def _compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache so a second run of a spec starts at once."""
    import jax

    cache = Path(os.environ.get("LAB_CACHE_DIR", Path.home() / ".cache" / "lab" / "jax"))
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _distributed(args: argparse.Namespace) -> None:
    """Join a multi-process run: every process runs the same command with its own --process-id."""
    import jax

    if jax.devices()[0].platform == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)


def cmd_sweep(args: argparse.Namespace) -> int:
    import jax

    from lab.analysis.summary import format_summary
    from lab.checkpoints import open_run
    from lab.launch import default_out, run_sweep
    from lab.plots import plot_curves
    from lab.report.figures import save_figure
    from lab.sweeps import expand, load_spec

    if args.cpu_devices is not None:
        from lab.train.sharding import use_cpu_devices

        use_cpu_devices(args.cpu_devices)
    if args.coordinator:
        _distributed(args)
    spec = load_spec(args.spec, args.set)
    out = Path(args.out) if args.out else default_out(spec)
    groups = expand(spec)
    n_models = sum(g.size for g in groups)
    devices = f"{jax.device_count()} {jax.devices()[0].platform.upper()} device(s)"
    print(f"{spec.name}: {n_models} models in {len(groups)} group(s), {spec.train.steps} steps on {devices} -> {out}")
    _compilation_cache()
    run_sweep(spec, out, progress=not args.quiet)
    if jax_process_index() != 0:
        return 0
    run = open_run(out)
    print(format_summary(run.metrics, run.grid))
    figure = out / "curves.png"
    save_figure(plot_curves(run.metrics, run.grid, title=spec.name), figure)
    print(f"results: {out}  (curves: {figure}; in Python: run = lab.open({str(out)!r}))")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from lab.report import build_report

    _compilation_cache()
    print(build_report(args.dir, model=args.model, reference=args.reference, progress=not args.quiet))
    return 0


def jax_process_index() -> int:
    import jax

    return jax.process_index()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description="Train sweeps of toy models and take them apart.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sweep = commands.add_parser("sweep", help="train every model of a sweep spec (resumes if DIR holds it)")
    sweep.add_argument("spec", help="a TOML sweep spec, e.g. sweeps/quickstart.toml")
    sweep.add_argument("--out", help="run directory (default: checkpoints/<spec name>)")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a spec field, e.g. --set train.steps=2000 or --set 'sweep.train.lr=[1e-3,1e-2]'")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--cpu-devices", type=int, default=None, metavar="N",
                       help="on a CPU: train on N devices of one thread each, e.g. one per core (faster for many small "
                            "models; numbers differ in the last bits from one device)")
    sweep.add_argument("--coordinator", metavar="HOST:PORT",
                       help="multi-host: address of process 0 (with --num-processes and --process-id)")
    sweep.add_argument("--num-processes", type=int, default=1, help="multi-host: number of processes")
    sweep.add_argument("--process-id", type=int, default=0, help="multi-host: this process's index")
    sweep.set_defaults(run=cmd_sweep)
    report = commands.add_parser("report", help="draw a run's figures into DIR/report with an index.md")
    report.add_argument("dir", help="a run directory written by `lab sweep`, e.g. checkpoints/quickstart")
    report.add_argument("--model", type=int, default=None, metavar="N",
                        help="the model for the one-model figures (default: the highest final test accuracy)")
    report.add_argument("--reference", default=None, metavar="NAME",
                        help="published numbers to compare with (default: the spec's reference), e.g. grokfast")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.set_defaults(run=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # figures are only saved: any backend does, so none is chosen here
    try:
        return args.run(args)
    except LabError as e:
        if isinstance(e, Preempted):  # SIGTERM: saved and stopped, as a scheduler expects (128 + 15)
            print(f"lab: {e}", file=sys.stderr)
            return 143
        print(f"lab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lab: interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
