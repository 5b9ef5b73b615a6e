"""Write Grokfast's starting point and batch order (Lee et al. 2024) into lab/references/ (run once; committed).

    python -m lab.references.extract_grokfast        # needs torch: pip install -e '.[bench]'
    python -m lab.references.extract_grokfast --epochs 4500 --batches-out grokfast_batches_45k.npz
        # the baseline's 45,000 steps of batches (42 MB, not committed): --set train.batches_from=<that path>

ironjr/grokfast main.py (HEAD 93b2248) seeds torch's generator once, torch.manual_seed(args.seed) with --seed 0
(L91, L245), then draws on the CPU (the model is built there and moved to the GPU afterwards, L105-107), so torch's
CPU generator replays both draws exactly:
- the model, L105-107: Decoder(dim 128, 2 layers, 4 heads, 99 tokens, seq_len 5) builds, in this order,
  nn.Embedding(99, 128) and nn.Embedding(5, 128) (L52-53, N(0, 1)), then per block (L16-29) two LayerNorms,
  nn.MultiheadAttention(128, 4) (its out_proj nn.Linear draws a weight and a bias, then xavier_uniform_ on the
  [384, 128] in_proj_weight; both biases are then set to zero), nn.Linear(128, 512) and nn.Linear(512, 128), and
  last ln_f and the head nn.Linear(128, 99, bias=False) (L58-59). Building the same torch modules in the same
  order consumes the generator as the script does.
- the split, L114: torch.randperm(9,312).split(4,656): the first 4,656 rows train, row x * 96 + (y - 1) of the
  table of x in 0..96, y in 1..96 (L76-78: cartesian_prod, x-major, as `lab.tasks.all_pairs` with nonzero_y).
- the minibatches, L140-153: each epoch shuffles the training half it shuffled the epoch before (train_data =
  train_data[:, randperm(4,656)], L143) and reads it in torch.split's slices of 512 (9 of 512, one of 48); nothing
  else draws in between (no dropout; validation draws nothing). `epoch_order` [200, 4,656] holds each epoch's
  order as positions in the training half's own order (train_index), the composed permutations: 2,000 steps,
  enough for the filter runs (1,500). The baseline's 45,000 steps (4,500 epochs, 42 MB) only on request (above).

The keys are the lab's parameter paths, in the lab's layouts: W_E [99, 128]; W_pos [4, 128] (the first 4 of the
5 position rows: the model reads 4 tokens); per block: attention W_Q, W_K, W_V [4, 128, 32] and b_Q, b_K, b_V
[4, 32] (in_proj's rows 0-127, 128-255, 256-383, head h the rows 32 h .. 32 h + 31), W_O [4, 32, 128] and b_O
(out_proj's columns by head), the two LayerNorms, the MLP's W_in [128, 512], W_out [512, 128] (nn.Linear's
weights transposed) and biases; ln_final; W_U [128, 99] (the head's weight transposed); and train_index [4,656].
grokfast_batches.npz holds epoch_order (uint16).
"""

from __future__ import annotations

import argparse

import numpy as np

from lab.references import write_arrays

P, D_MODEL, N_LAYERS, N_HEADS, D_HEAD, D_MLP, SEQ_LEN, N_TOKENS = 97, 128, 2, 4, 32, 512, 5, 99
SEED, N_PAIRS, N_EPOCHS = 0, 97 * 96, 200


def _attention(attn) -> dict[str, np.ndarray]:
    """nn.MultiheadAttention's parameters as the lab's per-head W_Q, W_K, W_V, W_O and biases."""
    w_3AxD = attn.in_proj_weight.detach().numpy()
    b_3A = attn.in_proj_bias.detach().numpy()
    out = {}
    for i, name in enumerate("QKV"):
        w_AxD = w_3AxD[i * D_MODEL:(i + 1) * D_MODEL]
        out[f"W_{name}"] = w_AxD.reshape(N_HEADS, D_HEAD, D_MODEL).transpose(0, 2, 1)  # [H, D, E]
        out[f"b_{name}"] = b_3A[i * D_MODEL:(i + 1) * D_MODEL].reshape(N_HEADS, D_HEAD)
    w_DxA = attn.out_proj.weight.detach().numpy()
    out["W_O"] = w_DxA.T.reshape(N_HEADS, D_HEAD, D_MODEL)  # [H, E, D]
    out["b_O"] = attn.out_proj.bias.detach().numpy()
    return out


def _layer_norm(ln) -> dict[str, np.ndarray]:
    """nn.LayerNorm's weight and bias as flax's scale and bias."""
    return {"scale": ln.weight.detach().numpy(), "bias": ln.bias.detach().numpy()}


def grokfast_start(n_epochs: int = N_EPOCHS) -> dict[str, np.ndarray]:
    """The training rows, initial weights and epoch orders of main.py's seed-0 runs, drawn as its script draws
    them."""
    import torch  # the bench extra; the lab itself never imports torch
    from torch import nn

    torch.manual_seed(SEED)
    token_embeddings = nn.Embedding(N_TOKENS, D_MODEL)
    position_embeddings = nn.Embedding(SEQ_LEN, D_MODEL)
    blocks = []
    for _ in range(N_LAYERS):
        ln_1, ln_2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
        attn = nn.MultiheadAttention(D_MODEL, N_HEADS)
        mlp_in, mlp_out = nn.Linear(D_MODEL, D_MLP), nn.Linear(D_MLP, D_MODEL)
        blocks.append((ln_1, ln_2, attn, mlp_in, mlp_out))
    ln_f = nn.LayerNorm(D_MODEL)
    head = nn.Linear(D_MODEL, N_TOKENS, bias=False)
    train_index = torch.randperm(N_PAIRS)[: N_PAIRS // 2]
    order = torch.arange(N_PAIRS // 2)
    epoch_order = []
    for _ in range(n_epochs):  # each epoch permutes the order the epoch before left
        order = order[torch.randperm(N_PAIRS // 2)]
        epoch_order.append(order.numpy().astype(np.int32))

    weights = {"W_E": token_embeddings.weight.detach().numpy(),
               "W_pos": position_embeddings.weight.detach().numpy()[:4],
               "W_U": head.weight.detach().numpy().T}
    for i, (ln_1, ln_2, attn, mlp_in, mlp_out) in enumerate(blocks):
        parts = {"attn": _attention(attn), "ln_attn": _layer_norm(ln_1), "ln_mlp": _layer_norm(ln_2),
                 "mlp": {"W_in": mlp_in.weight.detach().numpy().T, "b_in": mlp_in.bias.detach().numpy(),
                         "W_out": mlp_out.weight.detach().numpy().T, "b_out": mlp_out.bias.detach().numpy()}}
        weights |= {f"block_{i}_{part}/{name}": w for part, ws in parts.items() for name, w in ws.items()}
    weights |= {f"ln_final/{name}": w for name, w in _layer_norm(ln_f).items()}
    arrays = {path: np.ascontiguousarray(w, dtype=np.float32) for path, w in weights.items()}
    return {**arrays, "train_index": train_index.numpy().astype(np.int32), "epoch_order": np.stack(epoch_order)}


def main() -> None:
    """Write lab/references/grokfast_start.npz (split and weights) and grokfast_batches.npz (epoch_order), or with
    --batches-out only the batch order of --epochs epochs, to that path."""
    parser = argparse.ArgumentParser(description="Grokfast's seed-0 start and batch order, replayed with torch")
    parser.add_argument("--epochs", type=int, default=N_EPOCHS, help="epochs of batch order (10 steps each)")
    parser.add_argument("--batches-out", default="", help="write only the batch order, to this .npz path")
    args = parser.parse_args()
    start = grokfast_start(args.epochs)
    epoch_order = {"epoch_order": start.pop("epoch_order").astype(np.uint16)}
    if args.batches_out:
        np.savez(args.batches_out, **epoch_order)
        print(f"wrote {args.batches_out}")
        return
    write_arrays("grokfast_batches", epoch_order)
    write_arrays("grokfast_start", start)


if __name__ == "__main__":
    main()
