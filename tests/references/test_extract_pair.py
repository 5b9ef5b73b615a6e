"""lab.references.extract_pair: printed logs parsed, seed runs and parity sweep reduced, the committed columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lab import references
from lab.references import extract_pair
from lab.references.extract_pair import (
    LOG_KEYS,
    modadd_seeds,
    notebook_log,
    parity_sweep,
)


def _log_line(step: int, **extra) -> str:
    """One printed log dict as the notebooks print them (Python repr, single quotes)."""
    row = {"step": step, "train_loss": 0.5 / (step + 1), "eval_loss": 0.6 / (step + 1), "train_acc": step / 100,
           "eval_acc": step / 200, "l2_norm": 30.0 + step, **extra}
    return repr(row) + "\n"


def _write_notebook(path, cell: int, outputs: list[dict]) -> None:
    """A notebook whose cell `cell` has the given outputs (the cells before it are empty)."""
    cells = [{"cell_type": "code", "outputs": []} for _ in range(cell)] + [{"cell_type": "code", "outputs": outputs}]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4}))


def _write_seeds(root) -> None:
    """Three runs of the mod-bot seed sweep, losses every 1,000 steps stored as step / 1000.

    Run 7 first drops below 1e-3 at step 2,000, run 3 at 1,000, run 9 never."""
    seeds = root / "source/grokking/mod-bot/seeds"
    seeds.mkdir(parents=True)
    eval_by_run = {7: [0.065, 0.2, 5e-4, 1e-4], 3: [0.064, 9e-4, 2e-3, 1e-5], 9: [0.066, 0.5, 0.4, 0.3]}
    rows = [{"modelIndex": run, "step": s, "train_loss": 0.07 - 0.01 * s - 0.001 * run, "eval_loss": loss}
            for run, losses in eval_by_run.items() for s, loss in enumerate(losses)]
    pd.DataFrame(rows).to_csv(seeds / "data__allmetrics_mlp_modular_addition_sweep.csv", index=False)
    pd.DataFrame({"modelIndex": [3, 7, 9], "freqs": ["13 4 0", "21", "2 5"], "minTrainLoss": [1e-7, 2e-7, 3e-7],
                  "minEvalLoss": [1e-5, 1e-4, 0.3], "maxRatio": [100.0, 200.0, 1e6], "non_freqs": [0, 3, 12],
                  "unused": ["x", "y", "z"]}).to_csv(seeds / "data__hypers_mlp_modular_addition_sweep.csv", index=False)


def _write_parity(root) -> pd.DataFrame:
    """A shuffled parity sweep table with an extra column, as the page stores it."""
    sweep = root / "source/grokking/sweep-sparse-parity"
    sweep.mkdir(parents=True)
    rng = np.random.default_rng(0)
    keys = pd.MultiIndex.from_product([[750, 1000], [16, 32], [0.01, 0.1], [0, 1]],
                                      names=["train_size", "hidden_size", "weight_decay", "seed"]).to_frame(index=False)
    table = keys.assign(maxRatio=rng.random(16) * 1e6, minTrainLoss=rng.random(16), minEvalLoss=rng.random(16),
                        extra=np.arange(16)).sample(frac=1.0, random_state=1)
    table.to_csv(sweep / "data__hypers_sparse_parity_v4.csv", index=False)
    return table


def test_a_notebook_log_keeps_the_printed_dicts_in_order_with_the_log_columns(tmp_path):
    path = tmp_path / "nb.ipynb"
    split = _log_line(20)
    outputs = [{"output_type": "stream", "text": ["training...\n", _log_line(0, lr=1e-3), "epoch done\n"]},
               {"output_type": "display_data", "data": {"text/plain": ["<Figure>"]}},  # no text: skipped
               {"output_type": "stream", "text": [_log_line(10), split[:15], split[15:]]}]  # a line cut in two
    _write_notebook(path, 3, outputs)
    log = notebook_log(path, 3)
    assert list(log.columns) == LOG_KEYS and log.step.tolist() == [0, 10, 20]
    np.testing.assert_allclose(log.train_loss, [0.5, 0.5 / 11, 0.5 / 21])
    np.testing.assert_allclose(log.l2_norm, [30.0, 40.0, 50.0])
    _write_notebook(path, 0, [{"text": ["{'step': 0, 'train_loss': 1.0, 'eval_loss': 1.0, 'train_acc': 0.0, "
                                        "'eval_acc': 0.0}\n"]}])
    with pytest.raises(KeyError, match="l2_norm"):  # a log without a column the CSV needs is refused
        notebook_log(path, 0)


def test_seed_runs_reduce_to_one_row_each_and_step_quantiles(tmp_path):
    _write_seeds(tmp_path)
    per_model, quant = modadd_seeds(tmp_path)
    assert per_model.model.tolist() == [3, 7, 9]  # runs in index order
    row = per_model.set_index("model")
    assert row.loc[3, "step_test_loss_1e-3"] == 1000.0 and row.loc[7, "step_test_loss_1e-3"] == 2000.0
    assert np.isnan(row.loc[9, "step_test_loss_1e-3"])  # never below 1e-3
    assert row.loc[3, "freqs"] == "1 5 14" and row.loc[3, "n_freqs"] == 3  # 0-based on the page, sorted, +1
    assert row.loc[7, "freqs"] == "22" and row.loc[9, "freqs"] == "3 6"
    assert row.loc[7, "eval_loss_0"] == 0.065 and row.loc[7, "final_eval_loss"] == 1e-4
    assert row.loc[9, "train_loss_0"] == pytest.approx(0.07 - 0.009)
    assert row.loc[9, "max_ratio"] == 1e6 and row.loc[7, "non_freq_neurons"] == 3
    assert row.loc[3, "min_train_loss"] == 1e-7 and row.loc[9, "min_eval_loss"] == 0.3
    assert quant.step.tolist() == [0, 1000, 2000, 3000]
    evals_3xS = np.array([[0.064, 9e-4, 2e-3, 1e-5], [0.065, 0.2, 5e-4, 1e-4], [0.066, 0.5, 0.4, 0.3]])
    for q in (10, 50, 90):
        np.testing.assert_allclose(quant[f"eval_loss_q{q}"], np.quantile(evals_3xS, q / 100, axis=0))
    np.testing.assert_allclose(quant.eval_loss_q50, np.median(evals_3xS, axis=0))  # the median over runs per step
    assert set(quant.columns) == {"step"} | {f"{c}_q{q}" for c in ("train_loss", "eval_loss") for q in (10, 50, 90)}


def test_the_parity_sweep_is_renamed_sorted_and_trimmed(tmp_path):
    table = _write_parity(tmp_path)
    out = parity_sweep(tmp_path)
    keys = ["train_size", "hidden_size", "weight_decay", "seed"]
    assert list(out.columns) == keys + ["max_ratio", "min_train_loss", "min_eval_loss"]
    assert list(out.index) == list(range(16))
    assert out[keys].apply(tuple, axis=1).tolist() == sorted(table[keys].apply(tuple, axis=1).tolist())
    by_key = table.set_index(keys)
    for _, r in out.iterrows():
        source = by_key.loc[tuple(r[k] for k in keys)]
        assert (r.max_ratio, r.min_train_loss, r.min_eval_loss) == (source.maxRatio, source.minTrainLoss,
                                                                    source.minEvalLoss)


def test_main_writes_the_five_tables_with_the_committed_files_columns(tmp_path, monkeypatch):
    root, out = tmp_path / "ai-explorables", tmp_path / "out"
    out.mkdir()
    notebooks = root / "server-side/grokking"
    notebooks.mkdir(parents=True)
    _write_notebook(notebooks / "MLP_Modular_Addition.ipynb", 20, [{"text": [_log_line(0), _log_line(100)]}])
    _write_notebook(notebooks / "MLP_Modular_Addition_Fixed_Embed.ipynb", 18, [{"text": [_log_line(30)]}])
    _write_seeds(root)
    _write_parity(root)
    monkeypatch.setattr(extract_pair, "HERE", out)
    extract_pair.main(str(root))
    names = ["pair_modadd_notebook_log", "pair_circle_notebook_log", "pair_modadd_seeds", "pair_modadd_seed_curves",
             "pair_parity_sweep"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.csv" for n in names)
    for name in names:  # the lab reads these files by name: the columns must be the committed ones
        assert list(pd.read_csv(out / f"{name}.csv").columns) == list(references.load(name).columns), name
    assert pd.read_csv(out / "pair_modadd_notebook_log.csv").step.tolist() == [0, 100]
    assert pd.read_csv(out / "pair_circle_notebook_log.csv").step.tolist() == [30]
    pd.testing.assert_frame_equal(pd.read_csv(out / "pair_parity_sweep.csv"), parity_sweep(root))
    per_model = pd.read_csv(out / "pair_modadd_seeds.csv")
    assert per_model.model.tolist() == [3, 7, 9] and per_model.freqs.tolist() == ["1 5 14", "22", "3 6"]
    curves = pd.read_csv(out / "pair_modadd_seed_curves.csv")
    np.testing.assert_allclose(curves.to_numpy(), modadd_seeds(root)[1].to_numpy(), rtol=1e-4)  # written as %.4e
