"""Runs held against the papers' own numbers (Grokfast, StableMax, Nanda et al., Michaud et al.).

Each comparison draws one figure, the run beside the published numbers (`lab.references`), and returns one
line per measure with both values, so a reader sees at once where the run and the paper agree.
"""

from __future__ import annotations

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab import models, references, tasks
from lab.analysis.emergence import fit_power_law
from lab.analysis.summary import first_step
from lab.plots.axes import finish

BITS = np.log(2.0)  # Michaud et al. plot and threshold subtask losses in bits


def _paper(reference: str) -> pd.DataFrame:
    table = references.load("paper_numbers")
    return table[table.reference == reference].set_index(["run", "measure"])


def first_steps(metrics: pd.DataFrame, column: str, above: float | None = None, below: float | None = None) -> pd.Series:
    """Per model, the first logged step with column >= above (or <= below); NaN where it never happens."""
    sign, threshold = (1.0, above) if above is not None else (-1.0, -below)
    return pd.Series({model: first_step(table[["step"]].assign(_v=sign * table[column]).sort_values("step"), "_v", threshold)
                      for model, table in metrics.groupby("model")})


def _label(report, model: int) -> str:
    row = report.grid.set_index("model").loc[model]
    return ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("group",))


def _names(report) -> dict[int, str]:
    """Each model's variant name, with its seed where a variant has several (or "model N" without variants)."""
    grid = report.grid.set_index("model")
    if "variant" not in grid:
        return {m: f"model {m}" for m in grid.index}
    seeded = "train.seed" in grid and grid.groupby("variant")["train.seed"].nunique().max() > 1
    return {m: f"{grid.variant[m]}, seed {grid['train.seed'][m]}" if seeded else grid.variant[m] for m in grid.index}


def _finish(fig, ax, threshold: float, lines: list[str], **axes) -> tuple[Figure, list[str]]:
    """Mark the threshold, label the axes; the figure and the comparison's lines."""
    ax.axhline(threshold, color="gray", lw=0.8)
    ax.set(**axes)
    ax.legend(fontsize=8)
    return finish(fig), lines


def _n_params(report, model: int) -> int:
    """A model's parameter count, from its spec's shapes (no arrays are made)."""
    cfg = report.run.spec_of(model)
    return models.param_count(jax.eval_shape(lambda: models.init(jax.random.key(0), cfg.model, cfg.task)))


def _step(value: float) -> str:
    return "never" if not np.isfinite(value) else f"{int(value):,}"


def grokfast(report) -> tuple[Figure, list[str]]:
    """Steps to 95% validation accuracy per run and each filter's speed-up over the baseline, beside the README's
    and beside the repository's main.py run unchanged on a CPU (its curve too, for the runs it has)."""
    paper, metrics, peer = _paper("grokfast"), report.metrics, references.load("grokfast_cpu_log")
    steps = first_steps(metrics, "test_acc", above=0.95)
    variant = _names(report)
    base = steps[[m for m, v in variant.items() if v == "baseline"]].median()
    paper_base = paper.loc[("baseline", "steps_to_95"), "value"]
    lines = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for model, s in steps.items():
        name = variant[model]
        theirs = paper.loc[(name, "steps_to_95"), "value"] if (name, "steps_to_95") in paper.index else np.nan
        speedup = base / s if np.isfinite(s) and name != "baseline" else np.nan
        extra = (f"; {speedup:.1f}x faster than this run's baseline (paper {paper_base / theirs:.1f}x)"
                 if np.isfinite(speedup) and np.isfinite(theirs) else "")
        logged = peer[peer.run == name].sort_values("step")
        script = ""
        if len(logged):
            at = first_step(logged, "test_acc", 0.95)
            script = f"; main.py on a CPU {_step(at) if np.isfinite(at) else f'not within {logged.step.max():,}'}"
        lines.append(f"{_label(report, model)}: 95% test accuracy at step {_step(s)} "
                     f"(paper {_step(theirs)}{script}){extra}")
        curve = metrics[metrics.model == model]
        line, = ax.plot(curve.step.clip(lower=1), curve.test_acc, label=f"{name} (lab)")
        if len(logged):
            ax.plot(logged.step, logged.test_acc, color=line.get_color(), ls=":", lw=1, label=f"{name}: main.py on a CPU")
        if np.isfinite(theirs):
            ax.axvline(theirs, color=line.get_color(), ls="--", lw=1, label=f"{name}: paper's 95% step")
    return _finish(fig, ax, 0.95, lines, xscale="log", xlabel="step", ylabel="test accuracy",
                   title=f"{report.spec.name} against Grokfast's README")


def stablemax(report) -> tuple[Figure, list[str]]:
    """Test accuracy over training per variant beside figure 1's StableMax curve (read off the plot)."""
    ref, metrics, names = references.load("stablemax_fig1"), report.metrics, _names(report)
    lines = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(ref.step, ref.test_acc, "ko--", label="paper: StableMax (read off figure 1)")
    theirs = ref.set_index("step").test_acc
    for model, curve in metrics.groupby("model"):
        ax.plot(curve.step, curve.test_acc, label=f"{names[model]} (lab)")
        at = curve.set_index("step").test_acc
        shared = [s for s in theirs.index if s > 0 and s in at.index]
        both = ", ".join(f"{s // 1000}k {at[s]:.2f}/{theirs[s]:.2f}" for s in shared)
        both = f"test accuracy lab/paper at {both}" if shared else "no logged step in common with the figure's"
        lines.append(f"{_label(report, model)}: {both}; final {at.iloc[-1]:.3f} at step "
                     f"{int(at.index[-1]):,}; 95% at step {_step(first_steps(curve, 'test_acc', above=0.95).iloc[0])}")
    return _finish(fig, ax, 0.95, lines, xlabel="step", ylabel="test accuracy",
                   title=f"{report.spec.name} against Prieto et al.'s figure 1")


def nanda(report) -> tuple[Figure, list[str]]:
    """The first step with test loss below 1 per model, beside the demo's and the repository's logged runs."""
    paper, log, metrics = _paper("nanda"), references.load("nanda_demo_log"), report.metrics
    firsts, names = first_steps(metrics, "test_loss", below=1.0), _names(report)
    demo = paper.loc[("demo", "test_loss_below_1")]
    lines = [f"published: the demo's run first below 1 between epochs {int(demo.low):,} and {int(demo.high):,}, its "
             f"second run at {int(paper.loc[('demo_run_2', 'test_loss_below_1'), 'value']):,}; the repository's "
             f"train-fraction-0.3 run at {int(paper.loc[('repo', 'test_loss_below_1'), 'value']):,}"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(log.epoch + 1, log.test_loss, "ko", ms=4, label="demo's printed test loss")
    for model, curve in metrics.groupby("model"):
        ax.plot(curve.step, curve.test_loss, label=f"{names[model]} (lab) test")
        peak = curve.loc[curve.test_loss.idxmax()]
        lines.append(f"{_label(report, model)}: test loss first below 1 at step {_step(firsts[model])}; its peak "
                     f"{peak.test_loss:.1f} at step {int(peak.step):,} (demo: 34.1 at 1,400)")
    return _finish(fig, ax, 1.0, lines, yscale="log", xlabel="step", ylabel="test loss",
                   title=f"{report.spec.name} against Nanda et al.'s runs")


def michaud(report) -> tuple[Figure, list[str]]:
    """The Zipf-weighted test loss's exponents in parameters and steps, and the steps at which subtasks are
    learned against their frequency, beside the quantization model's theory and the repository's fits."""
    paper, metrics, task = _paper("michaud"), report.metrics, report.spec.task
    if "test_loss_zipf" not in metrics:
        raise ValueError("this run logs no test_loss_zipf (a multitask_parity run of this lab version)")
    widths = {m: report.run.spec_of(m).model.width for m in report.grid.model}
    n_params = {m: _n_params(report, m) for m in widths}
    last = metrics[metrics.step == metrics.step.max()].set_index("model")
    fit_n = fit_power_law([n_params[m] for m in last.index], last.test_loss_zipf)
    widest = max(n_params, key=n_params.get)
    curve = metrics[metrics.model == widest]
    mid = curve[curve.step > 0]  # every log after the start (the repository fits steps 400-8,900 of 200k)
    fit_s = fit_power_law(mid.step, mid.test_loss_zipf)
    p_T = tasks.zipf_probs(task.n_tasks, task.zipf_exponent)
    learned = {t: first_steps(curve, f"test_loss_task_{t}", below=0.1 * BITS).iloc[0] for t in range(task.n_tasks)}
    hit = {t: s for t, s in learned.items() if np.isfinite(s) and s > 0}
    th_n, th_s = paper.loc[("theory", "alpha_N"), "value"], paper.loc[("theory", "alpha_S"), "value"]
    fn, fs = paper.loc[("fitted", "alpha_N")], paper.loc[("fitted", "alpha_S"), "value"]
    lines = [f"alpha_N (final Zipf-weighted test loss over {len(last)} widths): {fit_n.exponent:.2f} "
             f"({fit_n.exponent_low:.2f}-{fit_n.exponent_high:.2f}); theory {th_n:.2f}, the repository's fit "
             f"{fn.low:.2f}-{fn.high:.2f}",
             f"alpha_S (width {widths[widest]}, steps {int(mid.step.min()):,}-{int(mid.step.max()):,}): {fit_s.exponent:.2f} "
             f"({fit_s.exponent_low:.2f}-{fit_s.exponent_high:.2f}); theory {th_s:.2f}, the repository's fit {fs:.2f}"]
    if len(hit) >= 3:
        fit_p = fit_power_law([p_T[t] for t in hit], list(hit.values()))
        lines.append(f"steps to learn a subtask (loss < 0.1 bits) ~ p^{-fit_p.exponent:.2f} over the {len(hit)} "
                     f"subtasks learned by width {widths[widest]}; the repository's fit "
                     f"p^{paper.loc[('fitted', 'steps_per_subtask_slope'), 'value']:.2f}")
    else:
        lines.append(f"only {len(hit)} subtasks learned (loss < 0.1 bits) by width {widths[widest]}: no slope fitted")
    fig, (ax_n, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = np.array(sorted(n_params.values()))
    ax_n.loglog([n_params[m] for m in last.index], last.test_loss_zipf, "o", label="lab, final")
    ax_n.loglog(xs, fit_n(xs), "-", label=f"fit N^-{fit_n.exponent:.2f}")
    ax_n.loglog(xs, fit_n(xs[0]) * (xs / xs[0]) ** -th_n, "k--", label=f"theory N^-{th_n:.2f}")
    ax_n.set(xlabel="parameters", ylabel="Zipf-weighted test loss (nats)", title="parameters")
    ax_n.legend(fontsize=8)
    ax_s.loglog(curve.step.clip(lower=1), curve.test_loss_zipf, label=f"lab, width {widths[widest]}")
    ax_s.loglog(mid.step, fit_s(mid.step), "-", label=f"fit S^-{fit_s.exponent:.2f}")
    ax_s.loglog(mid.step, fit_s(mid.step.iloc[0]) * (mid.step / mid.step.iloc[0]) ** -th_s, "k--",
                label=f"theory S^-{th_s:.2f}")
    ax_s.set(xlabel="step", title="steps")
    ax_s.legend(fontsize=8)
    fig.suptitle(f"{report.spec.name} against the quantization model")
    return finish(fig), lines


COMPARISONS = {"grokfast": grokfast, "stablemax": stablemax, "nanda": nanda, "michaud": michaud}
AGAINST = {"grokfast": "Grokfast's README table (steps to 95% validation accuracy)",
           "stablemax": "Prieto et al.'s figure 1 (StableMax test accuracy, read off the plot)",
           "nanda": "the TransformerLens demo's printed log and the paper repository's saved run",
           "michaud": "the quantization model's exponents and the repository's fits"}
