"""Write Prieto et al.'s figure 1 starting point into lab/references/ (run once; the .npz is committed).

    python -m lab.references.extract_stablemax        # needs torch: pip install -e '.[bench]'

LucasPrietoAl/grokking-at-the-edge-of-numerical-stability @ 0cc9e8d, grokking_experiments.py, seeds torch's
generator once (L28, --seed default 42, utils.py L293) and then draws, on the CPU, in this order:
- the split (L35, utils.py L123-129 `split_dataset`): torch.utils.data.random_split of the 113 * 113 pairs into
  int(0.4 * 12769) = 5,107 training and 7,662 test rows: one randperm(12769); the first 5,107 train. Row
  x * 113 + y (datasets.py L49-61, x-major, as `lab.tasks.all_pairs`). The DataLoaders, torch.save and the logger
  made in between draw nothing;
- the model (L47, utils.py L186-187): MLP(226, [200, 200], 113, bias=False) (models.py L17-18), three nn.Linear
  drawn in order by their own reset_parameters (U(+-1/sqrt(fan_in))), then moved to the device.
Both figure 1 runs (StableMax and softmax, run_main_experiments.sh L50/L52) use the default seed, so they share
this start. torch's nn.Linear holds [out, in]; the lab's W_in, W_hidden_1, W_out are [in, out].
Not replayed: the per-step randperm of the training rows (L104, order only), drawn after these on the device's
generator.
"""

from __future__ import annotations

import numpy as np

from lab.references import write_arrays

P, SEED, TRAIN_FRAC, HIDDEN = 113, 42, 0.4, (200, 200)
PATHS = ("W_in", "W_hidden_1", "W_out")  # the lab's names of the MLP's three weights, in torch's layer order


def figure1_start() -> dict[str, np.ndarray]:
    """Figure 1's training rows and initial weights, drawn as grokking_experiments.py draws them."""
    import torch  # the bench extra; the lab itself never imports torch

    torch.manual_seed(SEED)
    n_all = P * P
    n_train = int(TRAIN_FRAC * n_all)
    train_set, _ = torch.utils.data.random_split(range(n_all), [n_train, n_all - n_train])
    sizes = (2 * P, *HIDDEN, P)
    layers = [torch.nn.Linear(n_in, n_out, bias=False) for n_in, n_out in zip(sizes, sizes[1:])]
    weights = {path: layer.weight.detach().numpy().T.copy() for path, layer in zip(PATHS, layers)}
    return {**weights, "train_index": np.asarray(train_set.indices, np.int32)}


def main() -> None:
    """Write lab/references/stablemax_start.npz."""
    write_arrays("stablemax_start", figure1_start())


if __name__ == "__main__":
    main()
