"""A run held against the published runs its spec reproduces (`reference = "..."` in the spec).

Each comparison draws one figure (the run over the peer's own curves and distributions) and
returns one line per measure, saying whether the run falls inside the peer's range.

    from lab.report.reference_report import compare
    fig, lines = compare(report)   # the figure and one line per measure
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab import references
from lab.analysis import pair
from lab.report import paper_references
from lab.plots.axes import finish
from lab.report.figures import PHASE_COLORS, draw_phase_classes
from lab.report.phases import CLASSES, classify, classify_numbers, majority_by_setting, phase_table

GROK_LOSS = 1e-3  # the explorable's seed grid marks test loss below this (data at 1,000-step resolution)


def _verdict(inside: bool) -> str:
    return "inside the explorable's range" if inside else "OUTSIDE the explorable's range"


def _quantiles(values, qs=(0.1, 0.5, 0.9)) -> list[float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return [float(np.quantile(v, q)) for q in qs] if v.size else [np.nan] * len(qs)


def _binomial_ok(k: int, n: int, p_ref: float) -> bool:
    """Whether k of n is a plausible draw at the reference rate: both tails P(<= k), P(>= k) above 2.5%."""
    pmf = np.array([math.comb(n, i) * p_ref**i * (1 - p_ref) ** (n - i) for i in range(n + 1)])
    return bool(pmf[: k + 1].sum() > 0.025 and pmf[k:].sum() > 0.025)


def _same_rate(mine: pd.Series, theirs: pd.Series) -> bool:
    """Whether two samples' rates of a class differ by at most two standard errors (pooled two-sample test)."""
    n1, n2 = len(mine), len(theirs)
    pooled = (mine.sum() + theirs.sum()) / (n1 + n2)
    se = np.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n1 + 1 / n2))
    return bool(abs(mine.mean() - theirs.mean()) <= 2 * se)


def _first_below(metrics: pd.DataFrame, column: str, threshold: float, every: int = 1000) -> pd.Series:
    """Per model, the first step that is a multiple of `every` with column < threshold (NaN if none)."""
    rows = metrics[(metrics.step % every == 0) & (metrics[column] < threshold)]
    first = rows.groupby("model").step.min()
    return first.reindex(sorted(metrics.model.unique()))


def modadd(report) -> tuple[Figure, list[str]]:
    """The main model against the notebook's log and the page's 450 runs.

    Every one of the page's runs ends generalized (its worst test loss at 50k is 0.0025) although
    its generalization steps still rise steeply at 50k: it appears to keep only runs that generalized
    (the notebook saves a run when eval_acc > 0.95, cell 39, a test its `or True` switches off). So
    the steps and frequencies are compared over the lab's models that generalized too.
    """
    metrics, last = report.metrics, int(report.metrics.step.max())
    ref, log = references.load("pair_modadd_seeds"), references.load("pair_modadd_notebook_log")
    band = references.load("pair_modadd_seed_curves")
    start = metrics[metrics.step == 0]
    final = metrics[metrics.step == last].set_index("model")
    done = sorted(final.index[final.test_acc > 0.95])
    grok = _first_below(metrics, "test_loss", GROK_LOSS)
    freqs = {m: pair.explorable_frequencies(report.run.model(m))["freqs"]
             for m in done}
    n_freqs = np.array([len(f) for f in freqs.values()])
    ref_grok = ref["step_test_loss_1e-3"]
    late = float(((ref_grok > 45_000) & (ref_grok <= 50_000)).mean())
    q_ref, q_lab = _quantiles(ref_grok[ref_grok <= last]), _quantiles(grok[done])
    f_ref = _quantiles(ref.n_freqs)
    loss0 = _quantiles(start.train_loss)
    norm0 = float(start.weight_norm.mean())
    lines = [
        f"initial train loss (CE/67): median {loss0[1]:.5f} over {len(start)} models vs the page's runs "
        f"{ref.train_loss_0.min():.5f}-{ref.train_loss_0.max():.5f}: "
        + _verdict(ref.train_loss_0.min() <= loss0[1] <= ref.train_loss_0.max()),
        f"initial weight norm: mean {norm0:.2f} vs the notebook's 37.39 (one run): "
        + _verdict(abs(norm0 - 37.39) < 0.02 * 37.39),
        f"generalized (test accuracy > 0.95) by step {last:,}: {len(done)} of {len(final)} models; all {len(ref)} of "
        f"the page's runs end generalized (worst test loss at 50k: {ref.final_eval_loss.max():.4f}) although "
        f"{late:.0%} of them get there only in the last 5,000 steps: the page seems to keep only runs that "
        f"generalized (docs/04), so the fraction has no range to compare with",
        f"step of test loss < 1e-3 (1,000-step grid), generalized models: median {q_lab[1]:,.0f} (10-90%: "
        f"{q_lab[0]:,.0f}-{q_lab[2]:,.0f}) vs the page's {q_ref[1]:,.0f} ({q_ref[0]:,.0f}-{q_ref[2]:,.0f}): "
        + (_verdict(q_ref[0] <= q_lab[1] <= q_ref[2]) if done else "no lab model got there"),
        "frequencies per generalized model (neurons with a DFT peak > 10): median "
        + (f"{np.median(n_freqs):g} (range {n_freqs.min()}-{n_freqs.max()}) vs {f_ref[1]:g} ({f_ref[0]:g}-"
           f"{f_ref[2]:g}): " + _verdict(f_ref[0] <= np.median(n_freqs) <= f_ref[2]) if done
           else f"none generalized (the page: {f_ref[1]:g})"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax = axes[0, 0]
    for split, color in (("train", "tab:red"), ("eval", "tab:blue")):
        ax.fill_between(band.step, band[f"{split}_loss_q10"], band[f"{split}_loss_q90"], color=color, alpha=0.15,
                        label=f"page's 450 runs, {split} 10-90%")
        ax.plot(log.step, log[f"{split}_loss"], color="black", lw=1.2, ls="--" if split == "train" else "-",
                label=f"notebook, {split}" if split == "train" else "notebook, test")
    for m, part in metrics.groupby("model"):
        ax.plot(part.step, part.train_loss, color="tab:red", lw=0.5, alpha=0.6)
        ax.plot(part.step, part.test_loss, color="tab:blue", lw=0.5, alpha=0.6)
    ax.set(yscale="log", xlabel="step", ylabel="loss (CE / 67)", title="lab seeds (thin) over the explorable's")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    bins = np.arange(0, 51_000, 2500)
    ax.hist(ref_grok.dropna(), bins=bins, density=True, alpha=0.5, color="grey", label=f"page ({len(ref)} runs)")
    ax.hist(grok[done].dropna(), bins=bins, density=True, alpha=0.6, color="tab:purple",
            label=f"lab ({len(done)} generalized of {len(final)})")
    ax.set(xlabel="first step with test loss < 1e-3 (1,000-step grid)", ylabel="density",
           title="when the models generalize")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    counts = np.arange(0, 8)
    width = 0.4
    ax.bar(counts - width / 2, [(ref.n_freqs == c).mean() for c in counts], width, color="grey", label="page")
    ax.bar(counts + width / 2, [(n_freqs == c).mean() for c in counts], width, color="tab:purple", label="lab")
    ax.set(xlabel="frequencies per model", ylabel="fraction of models", title="how many frequencies (generalized)")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ks = np.arange(0, report.spec.task.p // 2 + 1)
    ref_use = [np.mean([str(k) in f.split() for f in ref.freqs.astype(str)]) for k in ks]
    lab_use = [np.mean([k in f for f in freqs.values()]) if freqs else 0.0 for k in ks]
    ax.bar(ks - width / 2, ref_use, width, color="grey", label="page")
    ax.bar(ks + width / 2, lab_use, width, color="tab:purple", label="lab")
    ax.set(xlabel="frequency k", ylabel="fraction of models using it", title="which frequencies (generalized)")
    ax.legend(fontsize=8)
    fig.suptitle(f"{report.spec.name} against the PAIR explorable's main model")
    return finish(fig), lines


def circle(report) -> tuple[Figure, list[str]]:
    """The five-neuron model against its notebook's log."""
    metrics, log = report.metrics, references.load("pair_circle_notebook_log")
    final = metrics[metrics.step == metrics.step.max()]
    perfect = metrics[metrics.test_acc >= 1.0].groupby("model").step.min().reindex(sorted(metrics.model.unique()))
    nb_perfect = int(log[log.eval_acc >= 1.0].step.min())
    nb_norm = float(log.l2_norm.iloc[-1])
    lo, hi = perfect.min(), perfect.max()
    lines = [
        f"final test accuracy: {final.test_acc.min():.3f}-{final.test_acc.max():.3f} over {len(final)} models vs "
        f"the notebook's {log.eval_acc.iloc[-1]:.3f}: " + _verdict(final.test_acc.min() >= 0.99),
        f"first step at 100% test accuracy: {lo:,.0f}-{hi:,.0f} ({int(perfect.notna().sum())} models) vs the "
        f"notebook's {nb_perfect:,} (one run): " + _verdict(bool(lo <= nb_perfect <= hi)),
        f"final weight norm: {final.weight_norm.min():.0f}-{final.weight_norm.max():.0f} vs the notebook's "
        f"{nb_norm:.0f}: " + _verdict(bool(final.weight_norm.min() * 0.8 <= nb_norm <= final.weight_norm.max() * 1.25)),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for (column, ref_column, label), ax in zip(
            (("test_loss", "eval_loss", "test loss (CE / 67)"), ("test_acc", "eval_acc", "test accuracy"),
             ("weight_norm", "l2_norm", "weight norm")), axes):
        for _, part in metrics.groupby("model"):
            ax.plot(part.step, part[column], color="tab:purple", lw=0.6, alpha=0.7)
        ax.plot(log.step, log[ref_column], color="black", lw=1.5, label="notebook (seed 86)")
        ax.set(xlabel="step", ylabel=label, yscale="log" if "loss" in column else "linear")
        ax.legend(fontsize=8)
    fig.suptitle(f"{report.spec.name}: lab seeds (purple) against the five-neuron notebook's log")
    return finish(fig), lines


def parity(report) -> tuple[Figure, list[str]]:
    """The sparse-parity sweep's phase classes against the page's 1,125 models."""
    ref = references.load("pair_parity_sweep").rename(
        columns={"train_size": "task.n_train", "hidden_size": "model.width", "weight_decay": "train.weight_decay"})
    ref["phase"] = [classify_numbers(a, b, c) for a, b, c in zip(ref.min_train_loss, ref.min_eval_loss, ref.max_ratio)]
    lab = {m: classify(part) for m, part in report.metrics.sort_values("step").groupby("model")}
    grid = report.grid.assign(phase=report.grid.model.map(lab))
    keys = ["task.n_train", "model.width", "train.weight_decay"]
    shared = ref.merge(grid[keys].drop_duplicates(), on=keys)  # the page's models in the run's settings
    lines = []
    for wd, part in grid.groupby("train.weight_decay"):
        theirs = shared[np.isclose(shared["train.weight_decay"], wd)].phase
        show = ", ".join(f"{c} {(part.phase == c).mean():.0%}/{(theirs == c).mean():.0%}" for c in CLASSES)
        verdict = (_verdict(all(_same_rate(part.phase == c, theirs == c) for c in CLASSES)) if len(theirs)
                   else "no such setting in the page's sweep")
        lines.append(f"weight decay {wd:g} ({len(part)} models; the page's {len(theirs)} in the same settings), "
                     f"lab/page: {show}: {verdict}")
    lab_table = phase_table(report.metrics, report.grid, keys)
    ref_table = majority_by_setting(ref, keys)
    merged = lab_table.merge(ref_table, on=keys, suffixes=("", "_page"))
    lines.append(f"majority class per setting: the same in {int((merged.phase == merged.phase_page).sum())} of "
                 f"{len(merged)} settings")
    sizes = sorted(lab_table["task.n_train"].unique())
    fig, axes = plt.subplots(len(sizes), 3, figsize=(16, 2.8 * len(sizes) + 1), squeeze=False)
    for row, n_train in zip(axes, sizes):
        for ax, table, who in ((row[1], lab_table, "lab"), (row[2], ref_table, "page")):
            part = table[table["task.n_train"] == n_train]
            ax.set_title(f"{who}, train size {n_train}", fontsize=9)
            if part.empty:
                ax.axis("off")
                ax.text(0.5, 0.5, "not in the page's sweep", ha="center", va="center", transform=ax.transAxes)
                continue
            draw_phase_classes(ax, part, ["model.width", "train.weight_decay"], 6)
    gs = axes[0, 0].get_gridspec()
    for ax in axes[:, 0]:
        ax.remove()
    ax = fig.add_subplot(gs[:, 0])
    wds = sorted(grid["train.weight_decay"].unique())
    for i, wd in enumerate(wds):
        for offset, (who, table) in zip((-0.2, 0.2), (("lab", grid), ("page", shared))):
            fractions = table[np.isclose(table["train.weight_decay"], wd)].phase.value_counts(normalize=True)
            bottom = 0.0
            for c in CLASSES:
                ax.bar(i + offset, fractions.get(c, 0), 0.38, bottom=bottom, color=PHASE_COLORS[c],
                       edgecolor="black" if who == "lab" else "white")
                bottom += fractions.get(c, 0)
    ax.set_xticks(range(len(wds)), [f"{w:g}\nlab | page" for w in wds], fontsize=8)
    ax.set(xlabel="weight decay", ylabel="fraction of models", title="phase classes per weight decay")
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=PHASE_COLORS[c]) for c in CLASSES], labels=list(CLASSES),
              fontsize=8, loc="upper left")
    fig.suptitle(f"{report.spec.name} against the PAIR explorable's 1,125-model sweep (its phase rule on both)")
    return finish(fig), lines


COMPARISONS = {"pair_modadd": modadd, "pair_circle": circle, "pair_parity": parity, **paper_references.COMPARISONS}
AGAINST = {"pair_modadd": "the PAIR notebook's printed log and the page's 450 runs",  # what each is compared with
           "pair_circle": "the five-neuron notebook's printed log",
           "pair_parity": "the page's 1,125-model sweep", **paper_references.AGAINST}


def compare(report, reference: str | None = None) -> tuple[Figure, list[str]]:
    """The comparison of the report's run with a reference (default: its spec's): its figure, one line per measure."""
    return COMPARISONS[reference or report.spec.reference](report)
