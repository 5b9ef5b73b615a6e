"""PyTorch reference throughput for the lab's standard workloads (the baseline bench/throughput.py is compared with).

    python bench/torch_reference.py [--workloads nanda,nanda_x8,pair_mlp,parity] [--quick]

Plain eager PyTorch, float32, full-batch AdamW (torch.optim.AdamW), on the GPU where torch sees one (else the
CPU); imports only torch, numpy and the standard library. Reports model-steps/s (steps/s x models) after warmup.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WORKLOADS = ("nanda", "nanda_x8", "pair_mlp", "parity", "multitask")
BETAS = (0.9, 0.98)


# ---------------------------------------------------------------- data


def modular_data(p: int, frac: float, symmetric: bool, seed: int = 0):
    """Training pairs (a, b) and labels (a + b) mod p: a random `frac` of all (or of the a <= b) pairs."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    keep = (a <= b) if symmetric else np.ones_like(a, bool)
    ab = np.stack([a[keep], b[keep]], axis=1)
    idx = np.random.default_rng(seed).permutation(len(ab))[: round(frac * len(ab))]
    ab = torch.from_numpy(ab[idx]).long()
    return ab, (ab[:, 0] + ab[:, 1]) % p


def parity_data(n_bits: int = 30, k: int = 3, n: int = 1200, seed: int = 0):
    """n random +-1 bit vectors [n, n_bits] and labels XOR of the first k bits (1 where an odd number are -1)."""
    bits = torch.from_numpy(np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, n_bits)).astype(np.float32))
    return bits, ((bits[:, :k] < 0).sum(1) % 2).long()


def multitask_data(n_tasks: int = 100, n_bits: int = 50, k: int = 3, n: int = 10000, zipf: float = 1.4, seed: int = 0):
    """Multitask sparse parity: one-hot task prefix + n_bits +-1 bits; Zipf task frequencies; own k bits per task."""
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, n_tasks + 1) ** zipf
    task = rng.choice(n_tasks, size=n, p=probs / probs.sum())
    subsets = np.stack([rng.choice(n_bits, k, replace=False) for _ in range(n_tasks)])
    bits = rng.choice([-1.0, 1.0], size=(n, n_bits)).astype(np.float32)
    y = ((bits[np.arange(n)[:, None], subsets[task]] < 0).sum(1) % 2)
    x = np.concatenate([np.eye(n_tasks, dtype=np.float32)[task], bits], axis=1)
    return torch.from_numpy(x), torch.from_numpy(y).long()


# ---------------------------------------------------------------- models


class Transformer(nn.Module):
    """Nanda et al.'s one-layer transformer: no LayerNorm, ReLU MLP, causal attention, logits at the last position."""

    def __init__(self, vocab=114, n_out=113, n_ctx=3, d_model=128, n_heads=4, d_head=32, d_mlp=512):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(n_ctx, d_model) / math.sqrt(d_model))
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head, bias=False)  # W_Q, W_K, W_V in one matmul
        self.out = nn.Linear(n_heads * d_head, d_model, bias=False)
        self.mlp_in, self.mlp_out = nn.Linear(d_model, d_mlp), nn.Linear(d_mlp, d_model)
        self.unembed = nn.Linear(d_model, n_out, bias=False)
        self.register_buffer("causal", torch.tril(torch.ones(n_ctx, n_ctx, dtype=torch.bool)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_out] at the last position; every position is computed, as in Nanda's code."""
        B, L = tokens.shape
        x = self.embed(tokens) + self.pos
        q, k, v = self.qkv(x).view(B, L, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        # Explicit attention (as Nanda's code): F.scaled_dot_product_attention has no vmap batching rule on CPU.
        scores = (q @ k.transpose(-1, -2)).masked_fill(~self.causal, float("-inf")) / math.sqrt(self.d_head)
        z = scores.softmax(-1) @ v  # [B, H, L, E]
        x = x + self.out(z.transpose(1, 2).reshape(B, L, -1))
        x = x + self.mlp_out(F.relu(self.mlp_in(x)))
        return self.unembed(x)[:, -1]


def pair_mlp_params(m: int, p: int = 67, d_embed: int = 500, width: int = 24) -> list[torch.Tensor]:
    """Stacked PAIR MLP weights [m, ...]: W_E [p, E] (tied unembedding), W_in [E, F], W_out [F, E]."""
    return [
        (torch.randn(m, p, d_embed)).requires_grad_(),
        (torch.randn(m, d_embed, width) / math.sqrt(d_embed)).requires_grad_(),
        (torch.randn(m, width, d_embed) / math.sqrt(width)).requires_grad_(),
    ]


def pair_mlp_forward(params, ab: torch.Tensor) -> torch.Tensor:
    """Logits [m, B, p] of relu(W_E[a] W_in + W_E[b] W_in) W_out W_E^T, multiplied in the cheap order.

    W_E W_in is computed once per operand value ([p, F]) and gathered, and W_out W_E^T ([F, p])
    once per step: the same products as per example, with ~30x fewer FLOPs.
    """
    w_e, w_in, w_out = params
    proj = torch.bmm(w_e, w_in)  # [m, p, F]
    hidden = F.relu(proj[:, ab[:, 0]] + proj[:, ab[:, 1]])  # [m, B, F]
    return torch.bmm(hidden, torch.bmm(w_out, w_e.transpose(1, 2)))


def parity_params(m: int, n_in: int = 30, width: int = 1000, n_out: int = 2) -> list[torch.Tensor]:
    """Stacked parity MLP weights [m, ...], nn.Linear's default uniform init: W1, b1, W2, b2."""
    def u(shape, fan_in):
        return ((torch.rand(m, *shape) * 2 - 1) / math.sqrt(fan_in)).requires_grad_()
    return [u((n_in, width), n_in), u((1, width), n_in), u((width, n_out), width), u((1, n_out), width)]


def parity_forward(params, x: torch.Tensor) -> torch.Tensor:
    """Logits [m, B, 2] of Linear(I, F) + ReLU + Linear(F, 2), batched over the model axis with baddbmm."""
    w1, b1, w2, b2 = params
    hidden = F.relu(torch.baddbmm(b1, x.expand(w1.shape[0], -1, -1), w1))
    return torch.baddbmm(b2, hidden, w2)


def batched_loss(logits: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Sum over models of each model's mean cross entropy (x scale): per-model gradients are exact."""
    m, b, c = logits.shape
    return F.cross_entropy(logits.reshape(m * b, c), y.repeat(m)) * (m * scale)


# ---------------------------------------------------------------- steps


def adamw(params, lr: float, wd: float) -> torch.optim.AdamW:
    """torch.optim.AdamW with the workloads' betas, fused=True (same update, ~2x the default's speed on pair_mlp)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd, betas=BETAS, fused=True)


def make_step(loss_fn, opt):
    """A full-batch training step: zero_grad, loss, backward, optimizer step."""
    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()
    return step


def nanda_loop_step(n: int, tokens, y):
    """A step that trains n separate transformers one after another, each with its own AdamW."""
    models = [Transformer() for _ in range(n)]
    steps = [make_step(lambda m=m: F.cross_entropy(m(tokens), y), adamw(m.parameters(), 1e-3, 1.0)) for m in models]
    return lambda: [s() for s in steps]


def nanda_vmap_step(n: int, tokens, y):
    """A step of n transformers stacked by torch.func.stack_module_state and run by vmap(functional_call)."""
    models = [Transformer() for _ in range(n)]
    params, buffers = torch.func.stack_module_state(models)
    base = models[0].to("meta")

    def one(p, b, x):
        return torch.func.functional_call(base, (p, b), (x,))

    forward = torch.func.vmap(one, in_dims=(0, 0, None))
    return make_step(lambda: batched_loss(forward(params, buffers, tokens), y), adamw(params.values(), 1e-3, 1.0))


def stacked_step(init, forward, n: int, x, y, lr: float, wd: float, scale: float = 1.0):
    """A step of n models stacked on a leading axis; one AdamW over the stacked tensors is exact (elementwise)."""
    params = init(n)
    return make_step(lambda: batched_loss(forward(params, x), y, scale), adamw(params, lr, wd))


def loop_step(init, forward, n: int, x, y, lr: float, wd: float, scale: float = 1.0):
    """A step that trains n single models (model axis of 1, own AdamW each) one after another."""
    steps = [stacked_step(init, forward, 1, x, y, lr, wd, scale) for _ in range(n)]
    return lambda: [s() for s in steps]


# ---------------------------------------------------------------- timing


def device() -> str:
    """Where the reference runs: "cuda" where torch sees a GPU, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _synchronize() -> None:
    """Wait for the GPU's queued work (a no-op on the CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_steps(step, min_seconds: float, warmup: int = 3) -> tuple[int, float]:
    """Run `step` warmup times, then until min_seconds have passed; return (steps timed, seconds), the GPU's queue
    drained before the clock starts and before it stops."""
    for _ in range(warmup):
        step()
    _synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        step()
        n += 1
    _synchronize()
    return n, time.perf_counter() - t0


def variants(workload: str, quick: bool):
    """(variant name, models per step, step function builder) for each variant of a workload; the data on `device()`
    (the models' tensors follow torch's default device, which `run` sets)."""
    if workload in ("nanda", "nanda_x8"):
        tokens, y = (t.to(device()) for t in modular_data(113, 0.3, symmetric=False))
        tokens = torch.cat([tokens, torch.full((len(tokens), 1), 113, device=device())], dim=1)  # [a, b, =]
        if workload == "nanda":
            return [("single", 1, lambda: nanda_loop_step(1, tokens, y))]
        return [("loop", 8, lambda: nanda_loop_step(8, tokens, y)),
                ("vmap", 8, lambda: nanda_vmap_step(8, tokens, y))]
    if workload == "pair_mlp":
        ab, y = (t.to(device()) for t in modular_data(67, 0.4, symmetric=True))
        m = 128 if quick else 1024
        args = (pair_mlp_params, pair_mlp_forward)
        return [("loop", 16, lambda: loop_step(*args, 16, ab, y, 1e-3, 1.0, scale=1 / 67)),
                ("bmm", m, lambda: stacked_step(*args, m, ab, y, 1e-3, 1.0, scale=1 / 67))]
    if workload == "parity":
        x, y = (t.to(device()) for t in parity_data())
        m = 8 if quick else 64
        args = (parity_params, parity_forward)
        return [("loop", 4, lambda: loop_step(*args, 4, x, y, 1e-3, 0.1)),
                ("bmm", m, lambda: stacked_step(*args, m, x, y, 1e-3, 0.1))]
    if workload == "multitask":
        x, y = (t.to(device()) for t in multitask_data())
        m = 4 if quick else 16
        init = lambda n: parity_params(n, n_in=150, width=512)  # noqa: E731
        return [("loop", 4, lambda: loop_step(init, parity_forward, 4, x, y, 1e-3, 0.1)),
                ("bmm", m, lambda: stacked_step(init, parity_forward, m, x, y, 1e-3, 0.1))]
    raise ValueError(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")


def run(workload: str, quick: bool = False, workers: int = 1) -> list[dict]:
    """Time every variant of one workload; one dict per variant.

    workers > 1: the variants timed in that many processes of one thread each at once (the counterpart of
    `lab sweep --cpu-devices N`); their model-steps/s add up.
    """
    if workers > 1:
        return _run_workers(workload, quick, workers)
    torch.set_num_threads(os.cpu_count())
    torch.set_default_device(device())
    return _timed_variants(workload, quick)


def _timed_variants(workload: str, quick: bool, before_each=lambda: None) -> list[dict]:
    torch.manual_seed(0)
    rows = []
    for variant, models, build in variants(workload, quick):
        step = build()
        before_each()
        steps, seconds = time_steps(step, min_seconds=0.5 if quick else 5.0, warmup=1 if quick else 3)
        rows.append(dict(workload=workload, variant=variant, models=models,
                         model_steps_per_s=steps * models / seconds, seconds=seconds, steps=steps))
    return rows


def _one_thread_worker(workload: str, quick: bool, barrier) -> list[dict]:
    """One worker of `_run_workers`: one thread, every variant timed after the workers meet at the barrier."""
    torch.set_num_threads(1)
    torch.set_default_device(device())
    return _timed_variants(workload, quick, before_each=barrier.wait)


def _run_workers(workload: str, quick: bool, workers: int) -> list[dict]:
    """Each variant timed in `workers` one-thread processes at once; their rates summed per variant."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(workers) as pool:
        barrier = manager.Barrier(workers)
        per_worker = pool.starmap(_one_thread_worker, [(workload, quick, barrier)] * workers)
    return [dict(rows[0], variant=f"{rows[0]['variant']} in {workers} one-thread processes",
                 models=sum(r["models"] for r in rows), model_steps_per_s=sum(r["model_steps_per_s"] for r in rows))
            for rows in zip(*per_worker)]


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    """Parse arguments, run the workloads and print a markdown table and the machine."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of " + ",".join(WORKLOADS))
    ap.add_argument("--quick", action="store_true", help="~0.5 s per variant and fewer models (smoke test)")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    gpu = f", on {torch.cuda.get_device_name()}" if device() == "cuda" else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{cpu_name()} ({platform.processor() or platform.machine()}), {platform.platform()}{gpu}\n")
    print("| workload | variant | models | steps timed | seconds | model-steps/s |")
    print("|---|---|---:|---:|---:|---:|")
    for w in args.workloads.split(","):
        for r in run(w.strip(), args.quick):
            print(f"| {r['workload']} | {r['variant']} | {r['models']} | {r['steps']} | "
                  f"{r['seconds']:.2f} | {r['model_steps_per_s']:,.1f} |", flush=True)


if __name__ == "__main__":
    main()
