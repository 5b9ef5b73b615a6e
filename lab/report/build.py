"""`lab report DIR`: the standard figures of a run and an index.md that explains them.

    from lab.report import build_report
    index = build_report("checkpoints/quickstart")            # DIR/report/index.md, index.html and PNGs
    index = build_report("checkpoints/nanda_p113", model=0)   # model 0 for the one-model figures

Each figure is a function of the report's context (`lab.report.context.Report`) registered with its file
and title (`lab.report.registry.figure`); this module draws them in order, saves them and writes the index.
The one-model figures (Fourier spectrum, neuron frequencies, progress measures) are computed for
the representative model only (default: the highest final test accuracy), and the trajectory
PCA for group 0 only, so a report on a big sweep stays quick.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from lab.analysis import emergence, key_frequencies, pair, progress, skill_graph, summarize, trajectories
from lab.analysis.summary import TEST_FIT, first_step, format_summary, per_model
from lab.plots import plot_curves
from lab.report import figures, model_figures, neuron_report, reference_report
from lab.report.context import Report
from lab.report.describe import describe_run
from lab.report.phases import CLASSES, GROK_RATIO, LEARNED_LOSS, phase_table
from lab.report.registry import Drawing, figure, in_order
from lab.report.skip import Skip
from lab.tasks import zipf_probs


@dataclass(frozen=True)
class Entry:
    """One figure of the report: drawn (with a caption) or skipped (with the reason)."""

    file: str
    title: str
    caption: str = ""
    skipped: str = ""


@figure("curves.png", "Loss and accuracy", order=10)
def curves(report: Report) -> tuple[Figure, str]:
    fig = plot_curves(report.metrics, report.grid, title=report.spec.name)
    return fig, ("Accuracy (left) and loss (right) over training on a log step axis, dashed train and solid test: "
                 "grokking shows as test accuracy rising long after train accuracy has reached 1.")


@figure("weight_norm.png", "Weight norm", order=20)
def weight_norm(report: Report) -> tuple[Figure, str]:
    fig = figures.plot_weight_norm(report.metrics, report.grid, title=report.spec.name)
    return fig, ("The norm of all weights per setting: with weight decay it shrinks after the training set is "
                 "memorized, and in grokking runs it usually falls before test accuracy rises.")


@figure("softmax_collapse.png", "Softmax collapse", order=30)
def softmax_collapse(report: Report) -> tuple[Figure, str]:
    if "train_collapse" not in report.metrics:
        raise Skip("this run was trained before the collapse metric was logged")
    fig = figures.plot_metric_over_steps(report.metrics, report.grid, "train_collapse", report.spec.name,
                                         "fraction of training examples with loss exactly 0",
                                         "softmax collapse over training")
    return fig, ("The fraction of training examples whose float32 loss is exactly 0 (Prieto et al.'s softmax "
                 "collapse): their gradient vanishes, so once most examples collapse learning stalls unless "
                 "something else (weight decay, StableMax, an orthogonal gradient) moves the weights.")


@figure("fourier_spectrum.png", "Fourier spectrum of the embedding over training", order=40)
def fourier_spectrum(report: Report) -> tuple[Figure, str]:
    report.need_modular()
    norms_SxK = np.stack([report.spectrum(s) for s in report.run.steps])
    freqs, fraction = key_frequencies(norms_SxK[-1])
    fig = model_figures.plot_fourier_spectrum(report.run.steps, norms_SxK, freqs, fraction,
                                              title=f"{report.spec.name}, {report.label}")
    return fig, ("Each column is the embedding of the representative model at one checkpoint in the Fourier basis "
                 "of Z_p: a generalizing model concentrates on a few bright rows (its key frequencies), a memorizing "
                 "one stays spread over all frequencies.")


@figure("neuron_frequencies.png", "Neuron frequencies at the last checkpoint", order=50)
def neuron_frequencies(report: Report) -> tuple[Figure, str]:
    report.need_modular()
    cfg, step = report.run.spec_of(report.model), report.run.steps[-1]
    summary = summarize(report.params(step), cfg)
    fig = model_figures.plot_neuron_frequencies(summary["neurons_per_freq"], summary["neuron_fraction"],
                                                summary["key_freqs"],
                                                title=f"{report.spec.name}, {report.label}, step {step}")
    return fig, ("Each last-layer neuron of the representative model at the last checkpoint is assigned the frequency "
                 "that explains most of its activation over all inputs: after grokking the neurons cluster on the key "
                 "frequencies (orange) and their fractions sit near 1.")


@figure("progress_measures.png", "Progress measures", order=60)
def progress_measures(report: Report) -> tuple[Figure, str]:
    report.need_modular()
    cfg = report.run.spec_of(report.model)
    if cfg.task.op != "x+y":
        raise Skip(f"the progress measures are defined for x+y (the restricted loss keeps cos/sin of w_k(a+b)); "
                   f"this task is {cfg.task.op}")
    mask = progress.train_mask(cfg)
    freqs, _ = key_frequencies(report.spectrum(report.run.steps[-1]))  # those of the spectrum figure's title
    table = [{"step": s, **progress.measures(report.params(s), cfg, freqs=freqs, train_mask_N=mask)}
             for s in report.run.steps]
    own = report.metrics[report.metrics.model == report.model].sort_values("step")
    fig = model_figures.plot_progress_measures(pd.DataFrame(table), freqs, title=f"{report.spec.name}, {report.label}",
                                               generalized_step=first_step(own, "test_acc", TEST_FIT))
    return fig, ("Nanda et al.'s measures for the representative model: the excluded loss rising and the restricted "
                 "loss falling before the test loss drops means the Fourier circuit forms before the model "
                 "generalizes; a rising Gini and falling weight total show the cleanup.")


@figure("parity_pruning.png", "Sparse parity: relevant-bit weight and the loss bump", order=70)
def parity_pruning(report: Report) -> tuple[Figure, str]:
    task = report.spec.task
    if task.name != "parity":
        raise Skip(f"the task is {task.name}; this figure is for sparse parity")
    if len(report.run.steps) < 2:
        raise Skip("the run has fewer than two saved checkpoints")
    shares = [pair.relevant_weight_share(report.params(s)["W_in"][: task.n_bits], task.k) for s in report.run.steps]
    own = report.metrics[report.metrics.model == report.model].sort_values("step")
    bump = pair.loss_bump_before_generalizing(own, TEST_FIT)
    fig = model_figures.plot_parity_pruning(report.run.steps, shares, own, bump, task.k, task.n_bits,
                                            title=f"{report.spec.name}, {report.label}")
    return fig, ("Left: how much of the first layer's squared weight sits on the k bits the label depends on "
                 "(weight decay prunes the distractors as the model generalizes). Right: the train loss, which "
                 "rises slightly just before test accuracy jumps (marked when found).")


@figure("trajectory_pca.png", "Weight trajectories (joint PCA)", order=80)
def trajectory_pca(report: Report) -> tuple[Figure, str]:
    if len(report.run.steps) < 2:
        raise Skip("the run has fewer than two saved checkpoints, so there is no trajectory")
    traj = trajectories.load_trajectory(report.run, group=0)
    pca = trajectories.trajectory_pca(traj, n_components=2)
    keys = figures.setting_keys(report.grid)
    key = keys[0] if keys else ("train.seed" if "train.seed" in report.grid else None)
    rows = report.grid.set_index("model")
    labels = ([f"{figures.short(key)}={rows.loc[m, key]}" for m in traj.models] if key
              else [f"model {m}" for m in traj.models])
    n_groups = len(report.run.groups)
    scope = f"the models of group 0 (of {n_groups} groups of equal shapes)" if n_groups > 1 else "the models"
    fig = model_figures.plot_trajectory_pca(pca.coords, pca.explained_ratio, traj.steps, labels,
                                            title=f"{report.spec.name}: weight trajectories of {len(traj.models)} models"
                                                  + (" (group 0)" if n_groups > 1 else "") + " in one joint PCA",
                                            legend_title=figures.short(key) if key else "model")
    return fig, (f"Every one of {scope} at every checkpoint projected on the two directions along which all their "
                 f"weights vary most: models that end in the same place found the same solution, and a late turn "
                 f"of a trajectory often marks generalization.")


@figure("steps_to_generalize.png", "Steps to generalize", order=90)
def steps_to_generalize(report: Report) -> tuple[Figure, str]:
    keys = figures.setting_keys(report.grid)
    if not keys:
        raise Skip("nothing is swept besides train.seed, so there is no axis to plot steps against")
    x_key = next((k for k in ("variant", "task.train_frac") if k in keys), keys[0])
    series = [k for k in keys if k != x_key]
    table = per_model(report.metrics).merge(report.grid, on="model")
    fig = figures.plot_steps_to_generalize(table, x_key, series, title=report.spec.name,
                                           last_step=int(report.metrics.step.max()))
    return fig, (f"For each {figures.short(x_key)} (x) the first logged step at which each model's test accuracy "
                 f"reached {TEST_FIT}: one dot per model (seed), open dots at the top for models that never did within "
                 f"the run, and the median over seeds marked per setting"
                 + (f"; colours are the other swept settings ({', '.join(series)})." if series else "."))


@figure("phase_diagram.png", "Phase diagram", order=100)
def phase_diagram(report: Report) -> tuple[Figure, str]:
    keys = figures.setting_keys(report.grid)
    if len(keys) not in (2, 3):
        named = f" ({', '.join(keys)})" if keys else ""
        count = f"{len(keys)} swept axis" if len(keys) == 1 else f"{len(keys)} swept axes"
        raise Skip(f"the sweep has {count} besides the seeds{named}; a phase diagram needs two (or three, "
                   f"one row per value of the third)")
    facet = next((k for k in ("task.n_train", "task.train_frac") if k in keys), keys[-1]) if len(keys) == 3 else None
    axes = [k for k in keys if k != facet]
    table = phase_table(report.metrics, report.grid, keys)
    fig = figures.plot_phase_diagram(table, axes, title=report.spec.name, facet=facet)
    rows = f" One row per {facet}." if facet else ""
    return fig, (f"Left: the median step at which test accuracy reached {TEST_FIT} per setting (grey hatched: never "
                 f"for at least half the seeds). Right: each setting's majority class by the PAIR explorable's rule on "
                 f"the logged losses ({', '.join(CLASSES)}: no learning if the minimum train loss stays above "
                 f"{LEARNED_LOSS:g}, memorizes if the minimum test loss does, grokking if test/train loss once "
                 f"reached {GROK_RATIO:g}); look for where the boundaries between the phases run.{rows}")


@figure("reference.png", "Against the published runs", order=160)
def reference(report: Report) -> tuple[Figure, str]:
    if not report.against:
        raise Skip("the spec names no published runs to compare with (reference = \"...\" in the spec, or "
                   "lab report --reference NAME)")
    fig, lines = reference_report.compare(report, report.against)
    source = reference_report.AGAINST[report.against]
    return fig, (f"This run beside {source} (lab/references/, with their sources). One line per measure:\n\n"
                 + "\n".join(f"- {line}" for line in lines))


@figure("skills.png", "Skills: emergence and composition", order=150)
def skills(report: Report) -> tuple[Figure, str]:
    task = report.spec.task
    if not task.test_groups:
        raise Skip(f"the task is {task.name}; this figure is for multitask parity and skill composition")
    groups = list(task.test_groups)
    own = report.metrics[report.metrics.model == report.model].sort_values("step")
    title = f"{report.spec.name}, {report.label}"
    if task.name == "multitask_parity":
        steps = emergence.skill_steps(report.metrics).dropna(subset=["step"])
        steps = steps[steps.step > 0].assign(frequency=zipf_probs(task.n_tasks, task.zipf_exponent)[steps.skill])
        try:
            fit = emergence.fit_power_law(steps.frequency, steps.step)
        except ValueError:
            fit = None
        fig = figures.plot_skills(own, groups, [f"skill {i}" for i in range(len(groups))],
                                  {"kind": "power law", "steps": steps, "fit": fit}, title)
        found = (f"step ~ p^-{fit.exponent:.2f} (95% interval {fit.exponent_low:.2f}-{fit.exponent_high:.2f})"
                 if fit else "too few learned skills for a fit")
        return fig, ("Left: the representative model's test accuracy on each skill (colour: frequency rank, 0 the "
                     "most frequent) over training: each jumps on its own while the mean rises smoothly. Right: the "
                     f"step at which each model learns each skill (accuracy >= 0.95) against the skill's frequency: "
                     f"{found}; the quantization model predicts p^-1.")
    keys = figures.setting_keys(report.grid)
    axis = keys[0] if keys else "train.seed"
    last = report.metrics[report.metrics.step == report.metrics.step.max()].copy()  # metrics carry the swept columns
    lacking_N = np.minimum(1.0, 2 * (1 - last.test_acc_k1.to_numpy())) * task.n_tasks  # a lacking skill: 1/2 right
    for size, group in enumerate(groups, start=1):
        last[f"pred_{group}"] = [skill_graph.tuple_accuracy(task.n_tasks, m, size, task.compose_rule)
                                 for m in lacking_N]
    fig = figures.plot_skills(own, groups, [f"k' = {s}" for s in range(1, len(groups) + 1)],
                              {"kind": "composition", "table": last, "axis": axis}, title)
    return fig, ("Left: the representative model's accuracy on held-out tuples of k' skills over training. Right: the "
                 f"last step's accuracy per tuple size against {axis} (mean over the other settings), beside the "
                 "Arora-Goyal prediction from the single-skill accuracy (a lacking skill guessed; "
                 "`lab.analysis.skill_graph.tuple_accuracy`).")


FIGURES = in_order()  # every figure of the report, by file name, in index order
assert any(d.draw.__module__ == neuron_report.__name__ for d in FIGURES.values())  # its figures registered too


def _draw(report: Report, drawing: Drawing) -> Entry:
    """Draw one figure and save it as its PNG, or say why it does not apply (and remove a stale PNG)."""
    path = report.out / drawing.file
    try:
        fig, caption = drawing.draw(report)
    except Skip as reason:
        path.unlink(missing_ok=True)  # a figure left from an earlier report would now be wrong
        return Entry(drawing.file, drawing.title, skipped=str(reason))
    figures.save_figure(fig, path)
    return Entry(drawing.file, drawing.title, caption=caption)


def write_index(report: Report, entries: list[Entry]) -> Path:
    """DIR/report/index.md (and index.html): what the run is, its settings table, then each figure or why it
    is missing."""
    run = report.run
    lines = [f"# Report: {report.spec.name}", "", f"Run directory: `{run.path}`; saved steps: "
             f"{', '.join(map(str, run.steps)) or 'none'}.", "",
             describe_run(report.spec, report.grid, len(run.groups)), "",
             f"The one-model figures show the representative model, {report.label}: {report.why}.", "",
             "## Settings", "", "```text", format_summary(report.metrics, report.grid), "```", "", "## Figures", ""]
    for entry in entries:
        lines += [f"### {entry.title}", ""]
        if entry.skipped:
            lines += [f"Not drawn (`{entry.file}`): {entry.skipped}.", ""]
        else:
            lines += [f"![{entry.title}]({entry.file})", "", entry.caption, ""]
    path = report.out / "index.md"
    path.write_text("\n".join(lines))
    (report.out / "index.html").write_text(index_html(report, entries))
    return path


def index_html(report: Report, entries: list[Entry]) -> str:
    """index.md as one HTML page that opens in a browser: the same text, every figure inline."""
    run, esc = report.run, html.escape
    parts = [f"<h1>Report: {esc(report.spec.name)}</h1>",
             f"<p>Run directory: <code>{esc(str(run.path))}</code>; saved steps: "
             f"{esc(', '.join(map(str, run.steps)) or 'none')}.</p>",
             _markdown(describe_run(report.spec, report.grid, len(run.groups))),
             _markdown(f"The one-model figures show the representative model, {report.label}: {report.why}."),
             "<h2>Settings</h2>", f"<pre>{esc(format_summary(report.metrics, report.grid))}</pre>", "<h2>Figures</h2>"]
    for entry in entries:
        parts.append(f"<h3>{esc(entry.title)}</h3>")
        if entry.skipped:
            parts.append(f"<p class='skipped'>Not drawn (<code>{esc(entry.file)}</code>): {_inline(entry.skipped)}.</p>")
        else:
            parts.append(f"<figure><img src='{esc(entry.file)}' alt='{esc(entry.title)}'>"
                         f"<figcaption>{_markdown(entry.caption)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
             "img{max-width:100%}figcaption{color:#333}pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
             ".skipped{color:#777}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Report: {esc(report.spec.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _inline(text: str) -> str:
    """The index's inline markdown (**bold**, `code`) as HTML, everything else escaped."""
    text = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text))


def _markdown(text: str) -> str:
    """The index's paragraphs and "- " lists as HTML."""
    out, items = [], []
    for line in text.split("\n") + [""]:
        if line.startswith("- "):
            items.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if items:
            out.append(f"<ul>{''.join(items)}</ul>")
            items = []
        if line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    return "".join(out)


def build_report(run_dir: str | Path, model: int | None = None, reference: str | None = None,
                 progress: bool = True) -> Path:
    """Draw the figures of a run into DIR/report and write DIR/report/index.md; return the index's path.

    Args:
        run_dir: a run directory written by `lab sweep`.
        model: the model for the one-model figures (default: the highest final test accuracy).
        reference: published numbers to hold the run against (a name of lab.config.REFERENCES; default: the
            spec's `reference`).
        progress: show a progress bar over the figures (a report on a big sweep takes tens of seconds).

    Raises:
        LabError: run_dir is not a run, or model is not one of its models.
    """
    report = Report(run_dir, model, reference)
    report.out.mkdir(exist_ok=True)
    entries = []
    with tqdm(FIGURES.values(), desc="report", unit="figure", disable=not progress, leave=False) as drawings:
        for drawing in drawings:
            drawings.set_postfix_str(drawing.file)
            entries.append(_draw(report, drawing))
    return write_index(report, entries)
