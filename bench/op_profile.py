"""Where a workload's time goes: one chunk of a `bench/throughput.py` workload under the JAX profiler, per XLA op.

    .venv/bin/python bench/op_profile.py parity [--cpu-devices N] [--models M] [--steps S] [--top K]

The workload is laid out as `lab sweep` (and throughput.py) lays it out; one chunk compiles and runs, a second
runs under `jax.profiler.trace`, and each XLA op's time is summed over the chunk. Each row is one op of the
compiled program: its microseconds per model-step (the evaluation's ops included), its share of the op time,
and for an op with products, their shapes and the rate it reached. The op time summed over threads is
compared with the chunk's wall time times the devices: the difference is time between ops (dispatch, waits).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/throughput.py beside this file

import throughput  # noqa: E402
from lab.train import sharding  # noqa: E402

_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%(\S+) = (.*?) ([\w\-]+)\((.*?)\)(.*)$")
_CONTAINER = re.compile(r"^(while|conditional|call)(\.\d+)?$")  # their ops are timed themselves
_COMPUTATION = re.compile(r"^(?:ENTRY )?%(\S+) ")
_SHAPE = re.compile(r"\[([\d,]*)\]")


@dataclass
class Op:
    """One instruction of the compiled HLO: its opcode, output shape, operands, called computation, source."""

    opcode: str
    shape: str
    operands: list[str]
    calls: str
    dims: str
    source: str


def _dims(shape: str) -> list[int]:
    m = _SHAPE.search(shape)
    return [int(d) for d in m.group(1).split(",") if d] if m else []


def parse_hlo(text: str) -> tuple[dict[str, Op], dict[str, list[str]]]:
    """Every instruction by name, and each computation's instruction names."""
    ops, computations, current = {}, defaultdict(list), ""
    for line in text.splitlines():
        if (c := _COMPUTATION.match(line)) and line.rstrip().endswith("{"):
            current = c.group(1)
            continue
        if not (m := _INSTRUCTION.match(line)):
            continue
        name, shape, opcode, args, rest = m.groups()
        calls = re.search(r"calls=%(\S+?)[,\s]", rest + " ")
        source = re.search(r'op_name="([^"]*)"', rest)
        ops[name] = Op(opcode, shape, re.findall(r"%([\w.\-]+)", args), calls.group(1) if calls else "",
                       rest, source.group(1) if source else "")
        computations[current].append(name)
    return ops, computations


def dot_flops(op: Op, ops: dict[str, Op]) -> tuple[int, str]:
    """A dot's multiply-add FLOPs and its shapes, [lhs] x [rhs] -> [out]."""
    lhs, rhs = (ops[o].shape if o in ops else "?" for o in op.operands[:2])
    contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", op.dims)
    inner = math.prod(_dims(lhs)[int(i)] for i in contracting.group(1).split(",") if i) if contracting else 1
    fmt = lambda s: "x".join(map(str, _dims(s))) or "1"  # noqa: E731
    return 2 * math.prod(_dims(op.shape)) * inner, f"[{fmt(lhs)}] . [{fmt(rhs)}] -> [{fmt(op.shape)}]"


def products(name: str, ops: dict[str, Op], computations: dict[str, list[str]]) -> tuple[int, list[str]]:
    """The FLOPs and shapes of the dots an op runs itself (a dot) or in the computation it calls (a fusion)."""
    op = ops[name]
    if op.opcode == "dot":
        flops, shapes = dot_flops(op, ops)
        return flops, [shapes]
    if op.opcode != "fusion" or not op.calls:
        return 0, []
    total, shapes = 0, []
    for inner in computations.get(op.calls, []):
        f, s = products(inner, ops, computations)
        total, shapes = total + f, shapes + s
    return total, shapes


def short_source(source: str) -> str:
    """The op's origin in the lab's code, from the jit path: 'backward' where it is a transpose (gradient)."""
    parts = [p for p in source.split("/") if p and not p.startswith(("jit(chunk", "while", "body", "closed_call",
                                                                      "cond", "branch_"))]
    backward = any(p.startswith("transpose(") for p in parts)
    tail = "/".join(re.sub(r"^(transpose\()?(jvp\()*|\)+$", "", p) for p in parts[-2:])
    return ("backward " if backward else "") + tail


def op_times(trace_dir: str) -> tuple[dict[str, float], dict[str, int]]:
    """Microseconds and calls per XLA op name in the profiler's trace."""
    path = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)[0]
    with gzip.open(path) as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    us, calls = defaultdict(float), defaultdict(int)
    for e in events:
        if e.get("ph") == "X" and "hlo_op" in e.get("args", {}) and not _CONTAINER.match(e["name"]):
            us[e["name"]] += e["dur"]
            calls[e["name"]] += 1
    return us, calls


def main(argv=None) -> None:
    """Profile one chunk of a workload and print its ops, slowest first."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=list(throughput.WORKLOADS))
    ap.add_argument("--cpu-devices", type=int, default=0, metavar="N", help="as `lab sweep --cpu-devices N`")
    ap.add_argument("--models", type=int, default=0, help="models in the group (default: the workload's)")
    ap.add_argument("--steps", type=int, default=0, help="steps in the chunk (default: the workload's)")
    ap.add_argument("--model-batch", type=int, default=0, help="vmapped batch per device (default: as lab sweep)")
    ap.add_argument("--row-block", type=int, default=-1, help="rows per gradient block (default: as lab sweep)")
    ap.add_argument("--top", type=int, default=14, help="ops to list (the rest are summed)")
    args = ap.parse_args(argv)
    if args.cpu_devices:
        sharding.use_cpu_devices(args.cpu_devices)
    wl = throughput.WORKLOADS[args.workload]
    steps, models = args.steps or wl.steps, args.models or wl.models
    spec = wl.spec.replace("train.log_every", steps).replace("train.steps", steps)
    n_tr = throughput.n_train_max(spec)
    mesh = sharding.model_mesh()
    _, auto_batch, auto_block = throughput.sweep_layout(spec, n_tr, models)
    model_batch = args.model_batch or auto_batch
    row_block = args.row_block if args.row_block >= 0 else auto_block
    programs, state, data, hp = throughput.layout(spec, n_tr, models, model_batch, row_block)
    ops, computations = parse_hlo(programs.chunk.lower(state, data, hp).compile().as_text())
    state, metrics = programs.chunk(state, data, hp)
    jax.block_until_ready((state, metrics))
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            t0 = time.perf_counter()
            jax.block_until_ready(programs.chunk(state, data, hp))
            wall = time.perf_counter() - t0
        us, calls = op_times(trace_dir)

    model_steps = models * steps
    total = sum(us.values())
    flops_step = throughput.train_flops(spec, n_tr)
    print(f"# {args.workload}: {models} model(s) on {mesh.size} device(s), vmapped batches of {model_batch}, "
          f"row blocks {row_block or 'off'}, {steps} steps, {n_tr} training rows")
    print(f"chunk wall {wall:.3f} s under the profiler = {wall * 1e6 / model_steps:,.1f} us per model-step "
          f"({flops_step * model_steps / wall / 1e9:.1f} GFLOP/s of training products); ops summed over threads "
          f"{total / 1e6:.3f} s, against wall x devices {wall * mesh.size:.3f} s\n")
    print("| op | what | calls | us per model-step | share of op time | GFLOP/s |")
    print("|---|---|---:|---:|---:|---:|")
    ranked = sorted(us, key=us.get, reverse=True)
    for name in ranked[:args.top]:
        op = ops.get(name)
        flops, shapes = products(name, ops, computations) if op else (0, [])
        what = "; ".join(shapes) or (f"{op.opcode} -> {op.shape}" if op else "?")
        origin = f" ({short_source(op.source)})" if op and op.source else ""
        rate = f"{flops * calls[name] / us[name] / 1e3:.1f}" if flops else "-"
        print(f"| {name} | {what}{origin} | {calls[name]:,} | {us[name] / model_steps:,.2f} | "
              f"{us[name] / total:.1%} | {rate} |")
    rest = sum(us[n] for n in ranked[args.top:])
    print(f"| {len(ranked) - args.top} other ops | | | {rest / model_steps:,.2f} | {rest / total:.1%} | - |")


if __name__ == "__main__":
    main()
