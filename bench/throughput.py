"""Training throughput of the lab's standard workloads: model-steps/s, GFLOP/s, compile time, peak memory.

    .venv/bin/python bench/throughput.py [--workloads nanda,pair_mlp,...] [--steps N] [--models M] [--quick]
        [--precision float32|tf32|bf16] [--no-reference] [--cpu-devices N]

Each workload is one group of M models trained by `lab.train.build_programs`; we time its
`chunk` program (train.log_every vmapped steps under lax.scan, then one evaluation), in the layout
`lab sweep` picks (with --cpu-devices N: the models sharded over N one-thread CPU devices).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/torch_reference.py beside this file

from lab import models as lab_models, tasks, train
from lab.models import attention_layouts
from lab.train import sharding
from lab.train.loop import JAX_PRECISION
from lab.config import ModelConfig, Spec, TaskConfig, TrainConfig

R = dataclasses.replace


@dataclass(frozen=True)
class Workload:
    """A spec, its model counts (standard and --quick), steps per chunk and loop-vs-vmap size."""

    spec: Spec
    models: int
    quick_models: int
    steps: int  # default steps per timed chunk (train.log_every)
    quick_steps: int
    loop_models: int = 0  # single models trained one after another for the loop-vs-vmap check


def _spec(task: TaskConfig, model: ModelConfig, tr: TrainConfig, name: str) -> Spec:
    """A validated full-batch spec."""
    spec = Spec(task=task, model=model, train=R(tr, batch_size=0), name=name)
    spec.validate()
    return spec


NANDA = _spec(
    R(TaskConfig(), name="modular", op="x+y", p=113, train_frac=0.3),
    ModelConfig(),  # transformer: 1 layer, d_model 128, 4 heads of 32, d_mlp 512, relu, no LayerNorm
    R(TrainConfig(), optimizer="adamw", lr=1e-3, weight_decay=1.0, b1=0.9, b2=0.98),
    "nanda",
)
PAIR_MLP = _spec(
    R(TaskConfig(), name="modular", op="x+y", p=67, symmetric=True, train_frac=0.4),
    R(ModelConfig(), kind="mlp", embedding="learned", d_embed=500, combine="sum", width=24, bias=False,
      tie_embed=True),
    R(TrainConfig(), loss="cross_entropy_class_mean"),
    "pair_mlp",
)
PARITY = _spec(
    R(TaskConfig(), name="parity", n_bits=30, k=3, n_train=1200, n_test=5000),
    R(ModelConfig(), kind="mlp", width=1000, bias=True),
    R(TrainConfig(), optimizer="adamw", lr=1e-3),
    "parity",
)
MULTITASK = _spec(
    R(TaskConfig(), name="multitask_parity", n_tasks=100, n_bits=50, k=3, n_train=10000, n_test=2000),
    R(ModelConfig(), kind="mlp", width=512, bias=True),
    R(TrainConfig(), optimizer="adamw", lr=1e-3, weight_decay=0.1),
    "multitask",
)
WORKLOADS = {
    "nanda": Workload(NANDA, 1, 1, steps=100, quick_steps=5),
    "nanda_x8": Workload(NANDA, 8, 8, steps=20, quick_steps=2),
    "pair_mlp": Workload(PAIR_MLP, 1024, 128, steps=10, quick_steps=2, loop_models=8),
    "parity": Workload(PARITY, 64, 8, steps=50, quick_steps=5, loop_models=4),
    "multitask": Workload(MULTITASK, 16, 4, steps=20, quick_steps=2, loop_models=4),
}


def forward_flops(spec: Spec, n_rows: int, plain: bool = False) -> int:
    """Matmul FLOPs (2 per multiply-add) of one model's forward pass over n_rows examples, as lab computes it.

    Transformer (L = 3 tokens, V = p + 1, D = d_model, H = n_heads, A = H d_head, F = d_mlp,
    C = classes), a layer with Q query positions (Q = 1 in the last layer: the readout):
      layer 0 projects the V x L (token, position) table once per model: Q, K and V 3 V L D A,
      then per row scores and pattern @ V 2 Q L A and W_O Q A D;
      later layers per row: K, V 2 L D A, Q: Q D A, scores and pattern @ V 2 Q L A, W_O Q A D;
      every layer per row: MLP 2 Q D F; plus the unembedding D C per row.
    plain=True: the plain implementation (every position, no table), per row
      n_layers (3 L D A + 2 L L A + L A D + 2 L D F) + L D C.
    MLP over operands (V = p, E = embedding width, F = width): per model, the projected table
      V E F (combine "sum"; 2 V E F for concat) and, tied, W_E W_out^T V E F; per row
      (depth - 1) F F and F V (tied) or F C. MLP over bit vectors (I bits; multitask parity's one-hot
      task columns are a row gather, not a product): per row I F + (depth - 1) F F + F C.
    """
    m, t = spec.model, spec.task
    fixed = per_row = 0  # multiply-adds
    if m.kind == "transformer":
        n_l, v, d, a, f, c = 3, t.p + 1, m.d_model, m.n_heads * m.d_head, m.d_mlp, t.n_classes
        for layer in range(m.n_layers):
            q = n_l if plain or layer < m.n_layers - 1 else 1
            if layer == 0 and not plain:
                fixed += 3 * v * n_l * d * a
                per_row += 2 * q * n_l * a + q * a * d
            else:
                per_row += 2 * n_l * d * a + q * d * a + 2 * q * n_l * a + q * a * d
            per_row += 2 * q * d * f
        per_row += (n_l if plain else 1) * d * c
    elif t.name == "modular":
        v, f = t.p, m.width
        e = {"learned": m.d_embed, "onehot": t.p, "circle": 2}[m.embedding]
        fixed += (1 if m.combine == "sum" else 2) * v * e * f + (f * e * v if m.tie_embed else 0)
        per_row += (m.depth - 1) * f * f + f * (v if m.tie_embed else t.n_classes)
    else:
        n_in = t.n_bits  # multitask parity's one-hot task columns are a gather (lab.models.products.one_hot_product)
        per_row += n_in * m.width + (m.depth - 1) * m.width**2 + m.width * t.n_classes
    return 2 * (fixed + per_row * n_rows)


def dot_flops_as_run(spec: Spec, n_rows: int) -> int:
    """forward_flops laid out as lab's transformer runs it, to check against its traced dots: each block's value
    sum is elementwise (`mix_values`: no dot for its Q L A multiply-adds a row) after a product that spreads the
    pattern over the heads' columns (Q L H A a row, with 0/1 blocks), and a large batch's first-block scores are
    one table of V Q x V L x A (`SCORE_TABLE_RATIO`) in place of Q L A a row. forward_flops counts the
    per-example math; the difference is work the layout adds or moves out of products, not counted."""
    m, t = spec.model, spec.task
    flops = forward_flops(spec, n_rows)
    if m.kind != "transformer":
        return flops
    n_l, v, h, a = 3, t.p + 1, m.n_heads, m.n_heads * m.d_head
    moved = 0  # multiply-adds
    for layer in range(m.n_layers):
        q = n_l if layer < m.n_layers - 1 else 1
        moved += n_rows * q * n_l * (h * a - a)  # the spread product in, the value sum's products out
        if layer == 0 and attention_layouts.uses_score_table(v, n_rows):
            moved += v * q * v * n_l * a - n_rows * q * n_l * a  # the score table in, the per-row scores out
    return flops + 2 * moved


def _dot_flops(jaxpr) -> int:
    """2 x multiply-adds of every dot_general in a jaxpr and its sub-jaxprs."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (_, rc), (_, rb) = eqn.params["dimension_numbers"]
            lhs, rhs = (v.aval.shape for v in eqn.invars)
            total += 2 * math.prod(lhs) * math.prod(n for i, n in enumerate(rhs) if i not in rc and i not in rb)
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                sub = getattr(sub, "jaxpr", sub)
                total += _dot_flops(sub) if hasattr(sub, "eqns") else 0
    return total


def traced_forward_flops(spec: Spec, n_rows: int) -> int:
    """The same count read off lab's traced forward pass: a check that the formula is current."""
    hp = jax.tree.map(lambda a: a[0], hparams(spec, [0]))
    params = jax.eval_shape(partial(train.init_state, spec), hp).params
    x = jax.eval_shape(partial(train.make_data, spec, n_train_max=n_train_max(spec)), hp).x_train
    x = jax.ShapeDtypeStruct((n_rows, *x.shape[1:]), x.dtype)
    return _dot_flops(jax.make_jaxpr(lambda p, x: lab_models.apply(p, x, spec.model, spec.task))(params, x).jaxpr)


def train_flops(spec: Spec, n_rows: int, plain: bool = False) -> int:
    """FLOPs of one model-step: 3 x the full-batch forward (forward + backward ~ 2 x forward).

    Convention, not an exact count: where the first layer reads data (parity bits), JAX skips
    its input gradient, so parity really does ~0.69 x this; gathers and elementwise ops are free.
    """
    return 3 * forward_flops(spec, n_rows, plain)


def eval_flops(spec: Spec) -> int:
    """Forward FLOPs of one evaluation: the (padded) train set and the test set, one apply each."""
    n_test = spec.task.n_examples() if spec.task.name == "modular" else spec.task.n_test
    return forward_flops(spec, n_train_max(spec)) + forward_flops(spec, n_test)


def n_train_max(spec: Spec) -> int:
    """Rows of the (padded) training set of the workload."""
    return tasks.n_train_max(spec.task, spec.task.train_frac)


def hparams(spec: Spec, seeds) -> train.HParams:
    """Per-model HParams arrays [M]: the given seeds, every other field from the spec."""
    return jax.tree.map(jnp.asarray, train.hparams_of(spec, [{"train.seed": int(s)} for s in seeds]))


COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
compile_seconds = [0.0]  # summed from jax.monitoring events (a cross-check of first - steady)


def _on_event(event: str, seconds: float, **_) -> None:
    """jax.monitoring listener: add up tracing, lowering and XLA compile durations."""
    if event in COMPILE_EVENTS:
        compile_seconds[0] += seconds


def timed_chunk(programs, state, data, hp):
    """Run one chunk to completion; return (seconds, new state)."""
    t0 = time.perf_counter()
    state, metrics = programs.chunk(state, data, hp)
    jax.block_until_ready((state, metrics))
    return time.perf_counter() - t0, state


def reset_peak_memory() -> None:
    """Reset the process peak RSS (Linux `clear_refs` 5) so each workload reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # the peak is then the process high-water mark so far


def peak_mib() -> float:
    """Peak device memory on an accelerator ('peak_bytes_in_use'), else the process peak RSS, in MiB."""
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def peak_size() -> int:
    """The side of the peak's square product: 2048 on a CPU, 8192 on an accelerator (2048 leaves a GPU idle)."""
    return 2048 if jax.default_backend() == "cpu" else 8192


def matmul_peak_gflops(n: int = 0, reps: int = 10, precision: str = "float32") -> float:
    """Float32 throughput of a jitted n x n @ n x n jnp.dot (n: `peak_size()`; best of 3 batches of reps), GFLOP/s,
    in train.matmul_precision's passes (float32, tf32, bf16); on several devices, one such product on each at
    once (the machine's peak with every device busy)."""
    n = n or peak_size()
    mesh = sharding.model_mesh()
    x = sharding.to_mesh(np.asarray(jax.random.normal(jax.random.key(0), (mesh.size, n, n), jnp.float32)), mesh)
    dot = jax.jit(jax.vmap(jnp.dot))
    best = float("inf")
    with jax.default_matmul_precision(JAX_PRECISION[precision]):  # the precision is part of jit's cache key
        dot(x, x).block_until_ready()
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                out = dot(x, x)
            out.block_until_ready()
            best = min(best, (time.perf_counter() - t0) / reps)
    return 2 * mesh.size * n**3 / best / 1e9


@dataclass
class Timing:
    """One layout of a workload timed: model-steps/s, first and fastest chunk, peak memory, compile seconds."""

    rate: float
    first: float
    fastest: float
    median: float
    slowest: float
    mib: float
    traced_compile: float


def layout(spec: Spec, n_tr: int, models: int, model_batch: int, row_block: int):
    """(programs, state, data, hparams) for `models` models sharded over every device, each device's share in
    vmapped batches of model_batch and each step's gradient in blocks of row_block rows (one shared dataset),
    as `lab sweep` lays out a group."""
    mesh = sharding.model_mesh()
    programs = train.build_programs(spec, n_tr, True, model_batch, mesh if mesh.size > 1 else None, row_block)
    hp_host = hparams(spec, range(models))
    hp = sharding.to_mesh(sharding.pad_models(hp_host, sharding.padded_size(models, mesh)), mesh)
    data = sharding.replicate(jax.device_get(programs.data(jax.tree.map(lambda x: x[0], hp_host))), mesh)
    return programs, programs.init(hp), data, hp


def sweep_layout(spec: Spec, n_tr: int, models: int) -> tuple[int, int, int]:
    """(models per device, vmapped model batch, gradient row block) as `lab sweep` picks them for a group."""
    per_device = sharding.padded_size(models, sharding.model_mesh()) // sharding.model_mesh().size
    return per_device, train.memory.auto_model_batch(spec, n_tr, per_device), train.memory.auto_row_block(spec, n_tr)


def time_layout(spec: Spec, n_tr: int, models: int, model_batch: int, row_block: int, repeats: int) -> Timing:
    """Time the chunks of one `layout`."""
    reset_peak_memory()
    programs, state, data, hp = layout(spec, n_tr, models, model_batch, row_block)
    compile_seconds[0] = 0.0
    first, state = timed_chunk(programs, state, data, hp)
    traced_compile = compile_seconds[0]
    steady = []
    for _ in range(repeats):
        dt, state = timed_chunk(programs, state, data, hp)
        steady.append(dt)
    fastest = min(steady)  # the least disturbed by other processes on a shared machine
    return Timing(models * spec.train.log_every / fastest, first, fastest, statistics.median(steady), max(steady),
                  peak_mib(), traced_compile)


def bench(name: str, wl: Workload, models: int, steps: int, repeats: int, loop_models: int, peak: float,
          workers: int, reference: bool = True):
    """Time one workload and print its figures; return its table row."""
    spec = wl.spec.replace("train.log_every", steps).replace("train.steps", steps)
    n_tr = n_train_max(spec)
    n_devices = sharding.model_mesh().size
    per_device, model_batch, row_block = sweep_layout(spec, n_tr, models)
    t = time_layout(spec, n_tr, models, model_batch, row_block, repeats)
    flops = train_flops(spec, n_tr)
    gflops = t.rate * flops / 1e9
    eval_share = eval_flops(spec) / (steps * flops + eval_flops(spec))
    traced, as_run = 3 * traced_forward_flops(spec, n_tr), 3 * dot_flops_as_run(spec, n_tr)
    blocks = f", gradients over blocks of {row_block} rows" if row_block else ""
    print(f"\n## {name}: {models} model(s) on {n_devices} device(s) in vmapped batches of {model_batch}{blocks}, "
          f"{steps} steps per chunk, {n_tr} training rows, {repeats} steady chunks")
    print(f"  FLOP per model-step (training only, 3 x forward matmuls): {flops / 1e9:.4f} GFLOP "
          f"(traced from lab.models: {traced / 1e9:.4f}{'' if abs(traced - as_run) <= 0.01 * as_run else ' MISMATCH'}"
          f"{f'; as lab lays it out: {as_run / 1e9:.4f}' if as_run != flops else ''})",
          end="")
    if spec.model.kind == "transformer":
        print(f"  [plain all-positions implementation: {train_flops(spec, n_tr, True) / 1e9:.2f} GFLOP]", end="")
    print(f"\n  chunk s: fastest {t.fastest:.3f} (median {t.median:.3f}, slowest {t.slowest:.3f}); "
          f"the once-per-chunk evaluation is {eval_share:.1%} of the chunk's FLOPs, not counted")
    print(f"  {t.rate:,.1f} model-steps/s, {gflops:.2f} GFLOP/s ({gflops / peak:.1%} of matmul peak), "
          f"compile {t.first - t.fastest:.2f} s (first call {t.first:.2f} s minus fastest steady; trace + lower + XLA "
          f"compile per jax.monitoring {t.traced_compile:.2f} s), peak {t.mib:,.0f} MiB")
    vmap_loop = 0.0
    if loop_models and n_devices == 1:
        loop_rate = loop_check(spec, n_tr, loop_models, steps, repeats)
        vmap_loop = t.rate / loop_rate
        print(f"  loop vs vmap: {loop_models} single models one after another {loop_rate:,.1f} model-steps/s; "
              f"{models} vmapped {t.rate:,.1f} model-steps/s; vmap/loop = {vmap_loop:.2f}x")
    elif loop_models:  # each device's models one at a time (lax.map) against all of them in one vmap
        other = per_device if model_batch == 1 else 1
        o = time_layout(spec, n_tr, models, other, row_block, repeats)
        loop_rate, vmap_rate = (t.rate, o.rate) if model_batch == 1 else (o.rate, t.rate)
        vmap_loop = t.rate / loop_rate
        print(f"  loop vs vmap on each device: one model at a time {loop_rate:,.1f} model-steps/s; all {per_device} "
              f"in one vmap {vmap_rate:,.1f}; the lab's layout (batches of {model_batch}) / loop = {vmap_loop:.2f}x")
    torch_rate, torch_variant = (torch_reference_rate(name, models, quick=repeats == 1, workers=workers) if reference
                                 else (0.0, "not run: --no-reference"))
    if torch_rate:
        print(f"  PyTorch reference ({torch_variant}): {torch_rate:,.1f} model-steps/s; lab / PyTorch = "
              f"{t.rate / torch_rate:.2f}x")
    return (name, models, t.rate, gflops, gflops / peak, t.first - t.fastest, t.traced_compile, t.mib, torch_rate,
            torch_variant, vmap_loop)


def torch_reference_rate(name: str, models: int, quick: bool, workers: int = 1) -> tuple[float, str]:
    """The fastest PyTorch variant (loop, batched, vmap) of the same workload, run in this process (with workers,
    in that many one-thread processes at once)."""
    try:
        import torch_reference
    except ImportError:  # torch is optional: pip install -e '.[bench]'
        return 0.0, "PyTorch not installed"
    rows = torch_reference.run(name, quick, workers)
    best = max(rows, key=lambda r: r["model_steps_per_s"])
    return best["model_steps_per_s"], f"{best['variant']}, {best['models']} models"


def loop_check(spec: Spec, n_tr: int, n_models: int, steps: int, repeats: int) -> float:
    """Model-steps/s of n_models single-model (M = 1) chunks run one after another (fastest of repeats passes)."""
    programs = train.build_programs(spec, n_tr, True)
    singles = []
    for seed in range(n_models):
        hp = hparams(spec, [seed])
        singles.append([programs.init(hp), programs.data(jax.tree.map(lambda x: x[0], hp)), hp])
    _, singles[0][0] = timed_chunk(programs, *singles[0])  # compile
    best = float("inf")
    for _ in range(repeats):
        total = 0.0
        for single in singles:
            dt, single[0] = timed_chunk(programs, *single)
            total += dt
        best = min(best, total)
    return n_models * steps / best


def main(argv=None) -> None:
    """Parse the CLI, run the chosen workloads and print the summary table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated: " + ", ".join(WORKLOADS))
    ap.add_argument("--steps", type=int, default=0, help="steps per timed chunk (default: per workload)")
    ap.add_argument("--quick", action="store_true", help="tiny step counts and fewer models (< 1 min on CPU)")
    ap.add_argument("--models", type=int, default=0, metavar="M", help="models per workload (default: per workload)")
    ap.add_argument("--no-reference", action="store_true", help="skip the PyTorch reference")
    ap.add_argument("--precision", default="float32", choices=list(JAX_PRECISION),
                    help="train.matmul_precision of every workload and of the peak's product (tf32, bf16: GPU/TPU)")
    ap.add_argument("--cpu-devices", type=int, default=0, metavar="N",
                    help="as `lab sweep --cpu-devices N`: N CPU devices of one thread each (the PyTorch reference then "
                         "runs in N one-thread processes at once)")
    args = ap.parse_args(argv)
    if args.cpu_devices:
        sharding.use_cpu_devices(args.cpu_devices)
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")

    print(f"machine: {jax.devices()}, processor {platform.processor() or platform.machine()!r}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__}")
    peak = matmul_peak_gflops(precision=args.precision)
    n_devices = jax.device_count()
    each = f" on each of {n_devices} devices at once" if n_devices > 1 else ""
    passes = "" if args.precision == "float32" else f" in {args.precision} passes, as every workload's products"
    print(f"float32 matmul peak (jitted {peak_size()}x{peak_size()} jnp.dot{each}{passes}): {peak:.1f} GFLOP/s")
    jax.monitoring.register_event_duration_secs_listener(_on_event)
    rows = []
    for name in names:
        wl = WORKLOADS[name]
        if args.precision != "float32":
            wl = dataclasses.replace(wl, spec=wl.spec.replace("train.matmul_precision", args.precision))
        models = args.models or (wl.quick_models if args.quick else wl.models)
        steps = args.steps or (wl.quick_steps if args.quick else wl.steps)
        loop_models = min(wl.loop_models, 2) if args.quick else wl.loop_models
        rows.append(bench(name, wl, models, steps, 1 if args.quick else 3, loop_models, peak, args.cpu_devices or 1,
                          not args.no_reference))

    print("\n| workload | models | model-steps/s | GFLOP/s | % of matmul peak | compile s (first - steady; traced) "
          "| peak MiB | PyTorch model-steps/s (fastest variant) | lab / PyTorch | vmap / loop |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, models, rate, gflops, frac, compile_s, traced_s, mem, torch_rate, variant, vmap_loop in rows:
        ratio = f"{rate / torch_rate:.2f}x" if torch_rate else "-"
        print(f"| {name} | {models} | {rate:,.1f} | {gflops:.2f} | {frac:.1%} | {compile_s:.2f}; {traced_s:.2f} "
              f"| {mem:,.0f} | {torch_rate:,.1f} ({variant}) | {ratio} | {f'{vmap_loop:.2f}x' if vmap_loop else '-'} |")
    print(f"\nmachine: {jax.devices()}; processor {platform.processor() or platform.machine()!r}; "
          f"os.cpu_count() = {os.cpu_count()}; matmul peak {peak:.1f} GFLOP/s")
    print("GFLOP/s counts training FLOPs only (the chunk's evaluation is timed but not counted).")


if __name__ == "__main__":
    main()
