#!/usr/bin/env bash
# Issue 16's GPU checks, prepared to run in few device calls (each step is capped; about 9 minutes in all):
#
#   bash bench/gpu_checks.sh [STEP ...]                  on the GPU machine (its python3 has jax with CUDA, torch,
#                                                        flax, optax, orbax; lab is read from this checkout)
#   QUICK=1 PYTHON=.venv/bin/python bash bench/gpu_checks.sh    every step at toy sizes on a CPU (~4 minutes)
#
# STEP: any of env throughput precision pair10k grok_nanda grok_pair (default: all, in that order). Each writes
# STEP.log under $OUT (the device tool's folder that comes back), else /tmp/gpu_checks:
#   env         the GPU, jax, torch
#   throughput  bench/throughput.py, every workload in float32, the PyTorch reference on the same GPU
#   precision   pair_mlp and nanda with tf32 and bf16 passes (bench/throughput.py --precision), no reference
#   pair10k     10,000 PAIR MLPs (sweeps/pair_modadd.toml in float32) for 10,000 steps as one timed `lab sweep`
#               (goal: under 60 s on one H100), and the bench's rate at 10,000 models
#   grok_nanda  Nanda's model, 8,000 steps, one model per precision: steps to fit and to generalize (+ curves png)
#   grok_pair   256 PAIR MLPs (float32) per precision, 40,000 steps: how many generalize, and when (+ curves png)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu_checks}
RUNS=${RUNS:-/tmp/gpu_check_runs}
QUICK=${QUICK:-0}
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PRECISIONS='sweep.train.matmul_precision=["float32","tf32","bf16"]'

# run NAME SECONDS CMD...: CMD under a time cap, its output on the terminal and in $OUT/NAME.log, its wall time
run() {
    local name=$1 cap=$2; shift 2
    local t0; t0=$(date +%s%N)
    echo "== $name (cap ${cap}s): $*" | tee -a "$OUT/$name.log"
    timeout "$cap" "$@" 2>&1 | tee -a "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc, $(( ($(date +%s%N) - t0) / 1000000 )) ms wall" | tee -a "$OUT/$name.log"
}

LAB=("$PY" -m lab.cli)

if [ "$QUICK" = 1 ]; then
    BENCH=(--quick) MODELS10K=64 STEPS10K=200 NANDA=(--set train.steps=300 --set model.d_model=32 --set model.d_mlp=64
    --set model.d_head=8) PAIR_SEEDS=4 PAIR_STEPS=300
else
    BENCH=() MODELS10K=10000 STEPS10K=10000 NANDA=(--set train.steps=8000) PAIR_SEEDS=256 PAIR_STEPS=40000
fi

step_env() {
    run env 60 bash -c "nvidia-smi || true; $PY -c 'import jax, jaxlib; print(\"jax\", jax.__version__, jax.devices())';
        $PY -c 'import torch; print(\"torch\", torch.__version__, torch.cuda.is_available())' || true"
}
step_throughput() { run throughput 210 "$PY" bench/throughput.py "${BENCH[@]}"; }
step_precision() {
    for p in tf32 bf16; do
        run precision 60 "$PY" bench/throughput.py --workloads pair_mlp,nanda --precision "$p" --no-reference \
            "${BENCH[@]}"
    done
}
step_pair10k() {
    rm -rf "$RUNS/pair10k"
    run pair10k 150 "${LAB[@]}" sweep sweeps/pair_modadd.toml --out "$RUNS/pair10k" --quiet --set train.dtype=float32 \
        --set sweep.seeds="$MODELS10K" --set train.steps="$STEPS10K" --set train.checkpoints=0
    run pair10k 90 "$PY" bench/throughput.py --workloads pair_mlp --models "$MODELS10K" --no-reference "${BENCH[@]}"
}
step_grok_nanda() {
    rm -rf "$RUNS/grok_nanda"
    run grok_nanda 90 "${LAB[@]}" sweep sweeps/nanda_p113.toml --out "$RUNS/grok_nanda" --quiet \
        --set train.checkpoints=0 --set "$PRECISIONS" "${NANDA[@]}"
    cp "$RUNS/grok_nanda/curves.png" "$OUT/grok_nanda_curves.png" 2>/dev/null || true
}
step_grok_pair() {
    rm -rf "$RUNS/grok_pair"
    run grok_pair 120 "${LAB[@]}" sweep sweeps/pair_modadd.toml --out "$RUNS/grok_pair" --quiet \
        --set train.dtype=float32 --set sweep.seeds="$PAIR_SEEDS" --set train.steps="$PAIR_STEPS" \
        --set train.checkpoints=0 --set "$PRECISIONS"
    cp "$RUNS/grok_pair/curves.png" "$OUT/grok_pair_curves.png" 2>/dev/null || true
}

for s in "${@:-env throughput precision pair10k grok_nanda grok_pair}"; do
    for name in $s; do
        case $name in
            env|throughput|precision|pair10k|grok_nanda|grok_pair) "step_$name" ;;
            *) echo "gpu_checks.sh: unknown step '$name' (env throughput precision pair10k grok_nanda grok_pair)" >&2
               exit 2 ;;
        esac
    done
done
