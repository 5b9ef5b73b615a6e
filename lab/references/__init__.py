"""Published numbers of the lab's reference experiments, as small CSV files with their sources, and the
starting points of peers' runs (initial weights and data splits) as .npz arrays.

    from lab import references
    references.load("pair_modadd_notebook_log")   # the PAIR main notebook's printed training log
    references.SOURCES["pair_parity_sweep"]        # where a file's numbers come from
    references.arrays("nanda_demo_start")          # the TransformerLens demo's initial weights and split

The PAIR files were written by `python -m lab.references.extract_pair PATH` from PAIR-code/ai-explorables
at commit 64ac8eb; nanda_demo_start.npz and stablemax_start.npz by `python -m lab.references.extract_nanda_demo`
and `python -m lab.references.extract_stablemax` (both need torch, the bench extra), power_grok_split.npz by
`python -m lab.references.extract_power_grok`; the papers' numbers were copied by hand from the files SOURCES
names. Nothing here is a lab result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lab.config import SpecError

HERE = Path(__file__).parent
REPO = "PAIR-code/ai-explorables @ 64ac8eb"

SOURCES = {
    "pair_modadd_notebook_log": f"{REPO}: server-side/grokking/MLP_Modular_Addition.ipynb, cell 20's printed log "
                                "(seed 165, weight decay 1; every 100 steps; losses are cross entropy / 67)",
    "pair_modadd_seeds": f"{REPO}: source/grokking/mod-bot/seeds/data__hypers_ and data__allmetrics_"
                         "mlp_modular_addition_sweep.csv, the page's 450 runs of the main model (one row per run: "
                         "first step, at 1,000-step resolution, with test loss < 1e-3; the test loss at 50k; the "
                         "neurons' frequencies, 1-based, as init-seeds.js shows them). Every one of them ends "
                         "generalized: the page appears to keep only runs that did (see docs/04)",
    "pair_modadd_seed_curves": f"{REPO}: the same 450 runs' train and test losses every 1,000 steps, as the "
                               "10th, 50th and 90th percentiles over runs",
    "pair_circle_notebook_log": f"{REPO}: server-side/grokking/MLP_Modular_Addition_Fixed_Embed.ipynb, cell 18's "
                                "printed log (seed 86; every 30 steps)",
    "pair_parity_sweep": f"{REPO}: source/grokking/sweep-sparse-parity/data__hypers_sparse_parity_v4.csv, the "
                         "1,125-model sweep (max test/train loss ratio, min train and test loss per model)",
    "paper_numbers": "the papers' own numbers, one row each: grokfast = ironjr/grokfast @ 93b2248 README.md "
                     "L176-191 (iterations to 95% validation accuracy, one seed); nanda demo = TransformerLens "
                     "demos/Grokking_Demo.ipynb (@ 1f8224d) In[20]'s printed log (test loss first below 1 between "
                     "epochs 13,699 and 13,799) and demo_run_2 its later plotted arrays (epoch 10,200); nanda repo = "
                     "progress-measures-paper's saved train-fraction-0.3 run (epoch 7,583); michaud = "
                     "ejmichaud/quantization-model @ 4f4f1a2: theory alpha_N = 0.4, alpha_S = 0.4 / 1.4, and the "
                     "fits of notebooks/scaling-exp-vs-zipf-exp.ipynb at Zipf exponent 1.4 (alpha_N 0.33-0.38, "
                     "alpha_S ~0.35; steps to learn a subtask ~ p^-0.81)",
    "nanda_demo_log": "TransformerLens demos/Grokking_Demo.ipynb @ 1f8224d, In[20]: the printed train and test "
                      "loss of its run (float64 loss; 21 of the 250 printed epochs, every one around the drop)",
    "stablemax_fig1": "LucasPrietoAl/grokking-at-the-edge-of-numerical-stability @ 0cc9e8d, paper_plots.ipynb: "
                      "figure 1's StableMax test accuracy, READ OFF the saved plot (logged every 5,000 steps; "
                      "approximate to about 0.01). The repository commits no logged numbers",
    "grokfast_cpu_log": "ironjr/grokfast @ 93b2248 main.py run unchanged on a CPU (torch 2.13; the repository commits "
                        "no logs): --budget 2000 with --filter ma --window_size 100 --lamb 5 --weight_decay 0.01 "
                        "(run grokfast_ma) and --filter ema --alpha 0.98 --lamb 2 --weight_decay 0.005 "
                        "(grokfast_ema), seed 0, and --budget 45000 with no filter (baseline; one torch thread): its "
                        "results/res_*.pt every epoch (10 steps); train_* averaged over the epoch's minibatches as "
                        "it trains, test_* on the held-out half after the epoch. 95% test accuracy first at 790 and "
                        "910, the README's numbers; the baseline not within 45,000 (0.86 at most; README 39,890)",
}

SPLIT_KEYS = ("train_index", "order")  # a starting point's split arrays (task.split_from), not weights

ARRAY_SOURCES = {
    "nanda_demo_start": "TransformerLens demos/Grokking_Demo.ipynb @ 1f8224d, its run's starting point replayed "
                        "with torch's CPU generator: In[13]'s split (torch.manual_seed(598), randperm(113 * 113), the "
                        "first int(0.3 * 12769) = 3,830 rows train; `train_index`, a * 113 + b) and In[14]-[15]'s "
                        "initial weights (HookedTransformerConfig(seed=999): manual_seed(999), then every W_* drawn "
                        "normal(0, 0.8 / sqrt(128)) in the order W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, W_out, W_U; "
                        "biases zero, frozen). The printed initial losses, 4.7350 (train) and 4.7333 (test) in "
                        "In[18], are recomputed from them in tests/references",
    "stablemax_start": "LucasPrietoAl/grokking-at-the-edge-of-numerical-stability @ 0cc9e8d, figure 1's runs' starting "
                       "point replayed with torch's CPU generator: grokking_experiments.py's torch.manual_seed(42), "
                       "then random_split of the 12,769 pairs (one randperm; the first int(0.4 * 12769) = 5,107 rows "
                       "train; `train_index`, x * 113 + y) and MLP(226, [200, 200], 113, bias=False)'s three "
                       "nn.Linear weights in order (U(+-1/sqrt(fan_in)); stored [in, out] as W_in, W_hidden_1, "
                       "W_out). Checked against the repository's own get_dataset and get_model in tests/references",
    "power_grok_split": "openai/grok @ 3d64b1d, grok/data.py: the order of its one shuffled list of x/y mod 97 "
                        "equations (L200-255 build them c-major, L345-347 shuffle with np.random.RandomState(0); "
                        "the first round(9312 * pct / 100) train, L160-169), as lab rows in `order`; the same for "
                        "every seed and fraction. Recomputed in tests/references; its first equations are the ones "
                        "the repository's own make_data lists",
    "grokfast_start": "ironjr/grokfast @ 93b2248, main.py's seed-0 runs' starting point replayed with torch's CPU "
                      "generator: torch.manual_seed(0) (L91), the Decoder's parameters in the order its modules "
                      "draw them (L105-107: embeddings N(0, 1), per block nn.MultiheadAttention and the MLP's two "
                      "nn.Linear, the head) in the lab's layouts, then randperm(9312).split(4656)'s training half "
                      "(L114; `train_index`, x * 96 + y - 1). The script's own first steps are checked against the "
                      "lab's from it in tests/references",
    "grokfast_batches": "ironjr/grokfast @ 93b2248, main.py's seed-0 runs' minibatch order (train.batches_from), "
                        "replayed with torch's CPU generator after grokfast_start's draws: each epoch's randperm(4656) "
                        "of the order the epoch before left (L143), read in torch.split's slices (L152); "
                        "`epoch_order` [200, 4656], positions in grokfast_start's train_index, 2,000 steps of 512",
}


def load(name: str) -> pd.DataFrame:
    """One reference table by name (a key of SOURCES)."""
    if name not in SOURCES:
        raise KeyError(f"no reference table {name!r}; tables: {', '.join(SOURCES)}")
    return pd.read_csv(HERE / f"{name}.csv")


def arrays(name: str, field: str = "references.arrays") -> dict[str, np.ndarray]:
    """The arrays of a reference starting point (a key of ARRAY_SOURCES) or of any .npz file path, by key.

    field names the spec field that asked, for the one-line error when there is no such file.
    """
    path = HERE / f"{name}.npz" if name in ARRAY_SOURCES else Path(name)
    if path.suffix != ".npz" or not path.is_file():
        raise SpecError(f"{field} = {name!r} is neither a reference ({', '.join(ARRAY_SOURCES)}) nor an .npz file")
    with np.load(path) as z:
        return {key: z[key] for key in z.files}


def write_arrays(name: str, values: dict[str, np.ndarray]) -> None:
    """Write a starting point's arrays to lab/references/<name>.npz (the extract_* scripts; a key of ARRAY_SOURCES)."""
    path = HERE / f"{name}.npz"
    np.savez(path, **values)
    print(f"wrote {path}")
