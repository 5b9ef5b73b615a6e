"""Published numbers of the lab's reference experiments, as small CSV files with their sources.

    from lab import references
    references.load("pair_modadd_notebook_log")   # the PAIR main notebook's printed training log
    references.SOURCES["pair_parity_sweep"]        # where a file's numbers come from

Every file was written by `python -m lab.references.extract_pair PATH` from PAIR-code/ai-explorables
at commit 64ac8eb; nothing here is a lab result.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
}


def load(name: str) -> pd.DataFrame:
    """One reference table by name (a key of SOURCES)."""
    if name not in SOURCES:
        raise KeyError(f"no reference table {name!r}; tables: {', '.join(SOURCES)}")
    return pd.read_csv(HERE / f"{name}.csv")
