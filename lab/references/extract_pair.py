"""Write the PAIR explorable's published numbers into lab/references/ (run once; the CSVs are committed).

    python -m lab.references.extract_pair PATH/TO/ai-explorables

PATH is a checkout of PAIR-code/ai-explorables (the files were taken at commit 64ac8eb). Reads:
- server-side/grokking/MLP_Modular_Addition.ipynb, cell 20: the printed training log of the main model;
- server-side/grokking/MLP_Modular_Addition_Fixed_Embed.ipynb, cell 18: the five-neuron model's log;
- source/grokking/mod-bot/seeds/data__*_mlp_modular_addition_sweep.csv: the page's 450 runs of the main model
  (losses every 1,000 steps; the frequencies of each model's neurons);
- source/grokking/sweep-sparse-parity/data__hypers_sparse_parity_v4.csv: the 1,125-model parity sweep.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
LOG_KEYS = ["step", "train_loss", "eval_loss", "train_acc", "eval_acc", "l2_norm"]


def notebook_log(path: Path, cell: int) -> pd.DataFrame:
    """The dicts a notebook cell printed, one row per logged step."""
    outputs = json.loads(path.read_text())["cells"][cell]["outputs"]
    text = "".join("".join(o.get("text", [])) for o in outputs)
    rows = [ast.literal_eval(line) for line in text.splitlines() if line.startswith("{")]
    return pd.DataFrame(rows)[LOG_KEYS]


def modadd_seeds(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model of the page's 450 runs: grokking step, losses, frequencies; and per-step loss quantiles."""
    seeds = root / "source/grokking/mod-bot/seeds"
    curves = pd.read_csv(seeds / "data__allmetrics_mlp_modular_addition_sweep.csv")
    hypers = pd.read_csv(seeds / "data__hypers_mlp_modular_addition_sweep.csv")
    curves["step"] = curves["step"] * 1000  # parse.js stored step / 1000 (init-seeds.js multiplies back)
    rows = []
    for model, c in curves.groupby("modelIndex"):
        h = hypers[hypers.modelIndex == model].iloc[0]
        below = c[c.eval_loss < 1e-3]
        freqs = sorted(int(f) + 1 for f in str(h.freqs).split())  # parse.js: 0-based index; init-seeds.js: +1
        rows.append({"model": int(model), "step_test_loss_1e-3": float(below.step.min()) if len(below) else np.nan,
                     "train_loss_0": float(c.train_loss.iloc[0]), "eval_loss_0": float(c.eval_loss.iloc[0]),
                "final_eval_loss": float(c.eval_loss.iloc[-1]),
                     "min_train_loss": float(h.minTrainLoss), "min_eval_loss": float(h.minEvalLoss),
                     "max_ratio": float(h.maxRatio), "freqs": " ".join(map(str, freqs)), "n_freqs": len(freqs),
                     "non_freq_neurons": int(h.non_freqs)})
    quant = curves.groupby("step").agg(
        **{f"{col}_q{q}": (col, lambda s, q=q: float(np.quantile(s, q / 100)))
           for col in ("train_loss", "eval_loss") for q in (10, 50, 90)}).reset_index()
    return pd.DataFrame(rows), quant


def parity_sweep(root: Path) -> pd.DataFrame:
    """The 1,125 models of the parity sweep with the three numbers the page's phase rule reads."""
    table = pd.read_csv(root / "source/grokking/sweep-sparse-parity/data__hypers_sparse_parity_v4.csv")
    table = table.rename(columns={"maxRatio": "max_ratio", "minTrainLoss": "min_train_loss",
                                  "minEvalLoss": "min_eval_loss"})
    keys = ["train_size", "hidden_size", "weight_decay", "seed"]
    return table[keys + ["max_ratio", "min_train_loss", "min_eval_loss"]].sort_values(keys).reset_index(drop=True)


def main(root: str) -> None:
    root = Path(root)
    nb = root / "server-side/grokking"
    notebook_log(nb / "MLP_Modular_Addition.ipynb", 20).to_csv(HERE / "pair_modadd_notebook_log.csv", index=False)
    notebook_log(nb / "MLP_Modular_Addition_Fixed_Embed.ipynb", 18).to_csv(
        HERE / "pair_circle_notebook_log.csv", index=False)
    per_model, quant = modadd_seeds(root)
    per_model.to_csv(HERE / "pair_modadd_seeds.csv", index=False)
    quant.to_csv(HERE / "pair_modadd_seed_curves.csv", index=False, float_format="%.4e")
    parity_sweep(root).to_csv(HERE / "pair_parity_sweep.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1])
