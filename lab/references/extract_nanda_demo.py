"""Write the TransformerLens grokking demo's starting point into lab/references/ (run once; the .npz is committed).

    python -m lab.references.extract_nanda_demo        # needs torch: pip install -e '.[bench]'

The demo (TransformerLens demos/Grokking_Demo.ipynb @ 1f8224d) seeds torch's generator twice; both draws run on
the CPU, so torch's CPU generator replays them exactly:
- In[13]: torch.manual_seed(598); indices = torch.randperm(113 * 113); the first int(113 * 113 * 0.3) = 3,830
  are the training pairs, row a * 113 + b of the table [a, b, "="] (a-major, as `lab.tasks.all_pairs`).
- In[14]-[15]: HookedTransformerConfig(seed=999, init_weights=True) seeds 999, and `init_weights` draws every
  parameter whose name holds "W_" from normal(0, initializer_range = 0.8 / sqrt(d_model)), in named_parameters'
  order. The version the notebook ran registers the attention's W_Q, W_K, W_V, W_O in that order (today's
  registers W_Q, W_O, then W_K, W_V): only that order gives In[18]'s printed initial losses, 4.7350 (train) and
  4.7333 (test); the other gives 4.7359. Biases start at zero and are frozen (In[16]): the lab's model.bias = false.

The keys are the lab's parameter paths (block_0_attn/W_Q, ...) in the lab's layouts, which are TransformerLens's:
W_E [114, 128], W_pos [3, 128], W_Q/W_K/W_V [4, 128, 32], W_O [4, 32, 128], W_in [128, 512], W_out [512, 128],
W_U [128, 113]; and train_index [3,830].
"""

from __future__ import annotations

import math

import numpy as np

from lab.references import write_arrays

P, D_MODEL, N_HEADS, D_HEAD, D_MLP = 113, 128, 4, 32, 512
DATA_SEED, MODEL_SEED, TRAIN_FRAC = 598, 999, 0.3
# the draw order (named_parameters of the notebook's TransformerLens) and each tensor's lab path and shape
DRAWS = (
    ("W_E", (P + 1, D_MODEL)),
    ("W_pos", (3, D_MODEL)),
    ("block_0_attn/W_Q", (N_HEADS, D_MODEL, D_HEAD)),
    ("block_0_attn/W_K", (N_HEADS, D_MODEL, D_HEAD)),
    ("block_0_attn/W_V", (N_HEADS, D_MODEL, D_HEAD)),
    ("block_0_attn/W_O", (N_HEADS, D_HEAD, D_MODEL)),
    ("block_0_mlp/W_in", (D_MODEL, D_MLP)),
    ("block_0_mlp/W_out", (D_MLP, D_MODEL)),
    ("W_U", (D_MODEL, P)),
)


def demo_start() -> dict[str, np.ndarray]:
    """The demo's training rows and initial weights, drawn as its cells draw them."""
    import torch  # the bench extra; the lab itself never imports torch

    torch.manual_seed(DATA_SEED)
    train_index = torch.randperm(P * P)[: int(P * P * TRAIN_FRAC)]
    torch.manual_seed(MODEL_SEED)
    std = 0.8 / math.sqrt(D_MODEL)
    weights = {path: torch.empty(shape).normal_(0.0, std).numpy() for path, shape in DRAWS}
    return {**weights, "train_index": train_index.numpy().astype(np.int32)}


def main() -> None:
    """Write lab/references/nanda_demo_start.npz."""
    write_arrays("nanda_demo_start", demo_start())


if __name__ == "__main__":
    main()
