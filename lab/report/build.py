"""`lab report DIR`: the standard figures of a run and an index.md that explains them.

    from lab.report import build_report
    index = build_report("checkpoints/quickstart")            # DIR/report/index.md and PNGs
    index = build_report("checkpoints/nanda_p113", model=0)   # model 0 for the one-model figures

The one-model figures (Fourier spectrum, neuron frequencies, progress measures) are computed for
the representative model only (default: the highest final test accuracy), and the trajectory
PCA for group 0 only, so a report on a big sweep stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from lab.analysis import (
    embedding_weights,
    emergence,
    frequency_norms,
    key_frequencies,
    pair,
    progress,
    skill_graph,
    summarize,
    trajectories,
)
from lab.checkpoints import open_run
from lab.config import REFERENCES
from lab.errors import LabError
from lab.plots import plot_curves
from lab.report import figures, model_figures, reference_report
from lab.report.describe import describe_run, model_label, representative_model
from lab.report.neuron_report import NeuronFigures
from lab.report.phases import CLASSES, GROK_RATIO, LEARNED_LOSS, phase_table
from lab.report.skip import Skip
from lab.analysis.summary import TEST_FIT, first_step, format_summary, per_model
from lab.tasks import zipf_probs


@dataclass(frozen=True)
class Entry:
    """One figure of the report: drawn (with a caption) or skipped (with the reason)."""

    file: str
    title: str
    caption: str = ""
    skipped: str = ""


def _spectrum(params, spec) -> jax.Array:
    """The embedding's frequency norms [K + 1], combined over its entries (as `summarize`'s "norms")."""
    weights = embedding_weights(params, spec)
    return jnp.sqrt(sum(jnp.square(frequency_norms(w_PxW, spec.task.p)) for w_PxW in weights.values()))


_spectrum_jit = jax.jit(_spectrum, static_argnums=1)


class Report(NeuronFigures):
    """The state of one report: the run, the representative model and its params at each saved step."""

    def __init__(self, run_dir: str | Path, model: int | None = None, reference: str | None = None):
        self.run = open_run(run_dir)
        self.metrics, self.grid, self.spec = self.run.metrics, self.run.grid, self.run.spec
        if reference is not None and reference not in REFERENCES:
            raise LabError(f"--reference {reference!r} is not known; choose one of {', '.join(REFERENCES)}")
        self.against = reference or self.spec.reference
        self.out = self.run.path / "report"
        if model is None:
            self.model = representative_model(self.metrics)
            final = self.metrics[self.metrics.model == self.model].sort_values("step").iloc[-1]
            self.why = f"the highest final test accuracy ({final.test_acc:.3f}); choose another with --model"
        else:
            if model not in set(self.grid.model):
                raise LabError(f"--model {model} is not in this run; models are 0..{len(self.grid) - 1}")
            self.model, self.why = int(model), "chosen with --model"
        self.label = model_label(self.grid, self.model)
        self._params: dict[int, dict] = {}
        self._spectra: dict[int, np.ndarray] = {}

    def params(self, step: int) -> dict:
        """The representative model's params at a saved step (each step restored once)."""
        if step not in self._params:
            self._params[step] = self.run.params(self.model, step)
        return self._params[step]

    def spectrum(self, step: int) -> np.ndarray:
        """The representative model's embedding frequency norms [K + 1] at a saved step."""
        if step not in self._spectra:
            cfg = self.run.spec_of(self.model)
            self._spectra[step] = np.asarray(_spectrum_jit(self.params(step), cfg))
        return self._spectra[step]

    def _need_modular(self) -> None:
        task = self.spec.task
        if task.name != "modular":
            raise Skip(f"the task is {task.name}, not modular arithmetic, so there is no Fourier basis over Z_p")
        if not self.run.steps:
            raise Skip("the run has no saved checkpoints")

    # -- one function per figure: draw it and return its caption, or raise Skip ---------------------

    def curves(self, path: Path) -> str:
        figures.save_figure(plot_curves(self.metrics, self.grid, title=self.spec.name), path)
        return ("Accuracy (left) and loss (right) over training on a log step axis, dashed train and solid test: "
                "grokking shows as test accuracy rising long after train accuracy has reached 1.")

    def weight_norm(self, path: Path) -> str:
        figures.plot_weight_norm(self.metrics, self.grid, path, title=self.spec.name)
        return ("The norm of all weights per setting: with weight decay it shrinks after the training set is "
                "memorized, and in grokking runs it usually falls before test accuracy rises.")

    def softmax_collapse(self, path: Path) -> str:
        if "train_collapse" not in self.metrics:
            raise Skip("this run was trained before the collapse metric was logged")
        figures.plot_metric_over_steps(self.metrics, self.grid, "train_collapse", path, self.spec.name,
                                       "fraction of training examples with loss exactly 0",
                                       "softmax collapse over training")
        return ("The fraction of training examples whose float32 loss is exactly 0 (Prieto et al.'s softmax "
                "collapse): their gradient vanishes, so once most examples collapse learning stalls unless "
                "something else (weight decay, StableMax, an orthogonal gradient) moves the weights.")

    def fourier_spectrum(self, path: Path) -> str:
        self._need_modular()
        norms_SxK = np.stack([self.spectrum(s) for s in self.run.steps])
        freqs, fraction = key_frequencies(norms_SxK[-1])
        model_figures.plot_fourier_spectrum(self.run.steps, norms_SxK, freqs, fraction, path,
                                            title=f"{self.spec.name}, {self.label}")
        return ("Each column is the embedding of the representative model at one checkpoint in the Fourier basis "
                "of Z_p: a generalizing model concentrates on a few bright rows (its key frequencies), a memorizing "
                "one stays spread over all frequencies.")

    def neuron_frequencies(self, path: Path) -> str:
        self._need_modular()
        cfg, step = self.run.spec_of(self.model), self.run.steps[-1]
        summary = summarize(self.params(step), cfg)
        model_figures.plot_neuron_frequencies(summary["neurons_per_freq"], summary["neuron_fraction"],
                                              summary["key_freqs"], path,
                                              title=f"{self.spec.name}, {self.label}, step {step}")
        return ("Each last-layer neuron of the representative model at the last checkpoint is assigned the frequency "
                "that explains most of its activation over all inputs: after grokking the neurons cluster on the key "
                "frequencies (orange) and their fractions sit near 1.")

    def progress_measures(self, path: Path) -> str:
        self._need_modular()
        cfg = self.run.spec_of(self.model)
        if cfg.task.op != "x+y":
            raise Skip(f"the progress measures are defined for x+y (the restricted loss keeps cos/sin of w_k(a+b)); "
                       f"this task is {cfg.task.op}")
        mask = progress.train_mask(cfg)
        freqs, _ = key_frequencies(self.spectrum(self.run.steps[-1]))  # those of the spectrum figure's title
        table = [{"step": s, **progress.measures(self.params(s), cfg, freqs=freqs, train_mask_N=mask)}
                 for s in self.run.steps]
        own = self.metrics[self.metrics.model == self.model].sort_values("step")
        model_figures.plot_progress_measures(pd.DataFrame(table), freqs, path, title=f"{self.spec.name}, {self.label}",
                                             generalized_step=first_step(own, "test_acc", TEST_FIT))
        return ("Nanda et al.'s measures for the representative model: the excluded loss rising and the restricted "
                "loss falling before the test loss drops means the Fourier circuit forms before the model "
                "generalizes; a rising Gini and falling weight total show the cleanup.")

    def parity_pruning(self, path: Path) -> str:
        task = self.spec.task
        if task.name != "parity":
            raise Skip(f"the task is {task.name}; this figure is for sparse parity")
        if len(self.run.steps) < 2:
            raise Skip("the run has fewer than two saved checkpoints")
        shares = [pair.relevant_weight_share(self.params(s)["W_in"][: task.n_bits], task.k) for s in self.run.steps]
        own = self.metrics[self.metrics.model == self.model].sort_values("step")
        bump = pair.loss_bump_before_generalizing(own, TEST_FIT)
        model_figures.plot_parity_pruning(self.run.steps, shares, own, bump, task.k, task.n_bits, path,
                                          title=f"{self.spec.name}, {self.label}")
        return ("Left: how much of the first layer's squared weight sits on the k bits the label depends on "
                "(weight decay prunes the distractors as the model generalizes). Right: the train loss, which "
                "rises slightly just before test accuracy jumps (marked when found).")

    def trajectory_pca(self, path: Path) -> str:
        if len(self.run.steps) < 2:
            raise Skip("the run has fewer than two saved checkpoints, so there is no trajectory")
        traj = trajectories.load_trajectory(self.run, group=0)
        pca = trajectories.trajectory_pca(traj, n_components=2)
        keys = figures.setting_keys(self.grid)
        key = keys[0] if keys else ("train.seed" if "train.seed" in self.grid else None)
        rows = self.grid.set_index("model")
        labels = ([f"{figures.short(key)}={rows.loc[m, key]}" for m in traj.models] if key
                  else [f"model {m}" for m in traj.models])
        n_groups = len(self.run.groups)
        scope = f"the models of group 0 (of {n_groups} groups of equal shapes)" if n_groups > 1 else "the models"
        model_figures.plot_trajectory_pca(pca.coords, pca.explained_ratio, traj.steps, labels, path,
                                          title=f"{self.spec.name}: weight trajectories of {len(traj.models)} models"
                                                + (" (group 0)" if n_groups > 1 else "") + " in one joint PCA",
                                          legend_title=figures.short(key) if key else "model")
        return (f"Every one of {scope} at every checkpoint projected on the two directions along which all their "
                f"weights vary most: models that end in the same place found the same solution, and a late turn "
                f"of a trajectory often marks generalization.")

    def steps_to_generalize(self, path: Path) -> str:
        keys = figures.setting_keys(self.grid)
        if not keys:
            raise Skip("nothing is swept besides train.seed, so there is no axis to plot steps against")
        x_key = next((k for k in ("variant", "task.train_frac") if k in keys), keys[0])
        series = [k for k in keys if k != x_key]
        table = per_model(self.metrics).merge(self.grid, on="model")
        figures.plot_steps_to_generalize(table, x_key, series, path, title=self.spec.name,
                                         last_step=int(self.metrics.step.max()))
        return (f"For each {figures.short(x_key)} (x) the first logged step at which each model's test accuracy "
                f"reached {TEST_FIT}: one dot per model (seed), open dots at the top for models that never did within "
                f"the run, and the median over seeds marked per setting"
                + (f"; colours are the other swept settings ({', '.join(series)})." if series else "."))

    def phase_diagram(self, path: Path) -> str:
        keys = figures.setting_keys(self.grid)
        if len(keys) not in (2, 3):
            named = f" ({', '.join(keys)})" if keys else ""
            count = f"{len(keys)} swept axis" if len(keys) == 1 else f"{len(keys)} swept axes"
            raise Skip(f"the sweep has {count} besides the seeds{named}; a phase diagram needs two (or three, "
                       f"one row per value of the third)")
        facet = next((k for k in ("task.n_train", "task.train_frac") if k in keys), keys[-1]) if len(keys) == 3 else None
        axes = [k for k in keys if k != facet]
        table = phase_table(self.metrics, self.grid, keys)
        figures.plot_phase_diagram(table, axes, path, title=self.spec.name, facet=facet)
        rows = f" One row per {facet}." if facet else ""
        return (f"Left: the median step at which test accuracy reached {TEST_FIT} per setting (grey hatched: never "
                f"for at least half the seeds). Right: each setting's majority class by the PAIR explorable's rule on "
                f"the logged losses ({', '.join(CLASSES)}: no learning if the minimum train loss stays above "
                f"{LEARNED_LOSS:g}, memorizes if the minimum test loss does, grokking if test/train loss once "
                f"reached {GROK_RATIO:g}); look for where the boundaries between the phases run.{rows}")

    def reference(self, path: Path) -> str:
        if not self.against:
            raise Skip("the spec names no published runs to compare with (reference = \"...\" in the spec, or "
                       "lab report --reference NAME)")
        lines = reference_report.compare(self, path, self.against)
        source = reference_report.AGAINST[self.against]
        return (f"This run beside {source} (lab/references/, with their sources). One line per measure:\n\n"
                + "\n".join(f"- {line}" for line in lines))

    def skills(self, path: Path) -> str:
        task = self.spec.task
        if not task.test_groups:
            raise Skip(f"the task is {task.name}; this figure is for multitask parity and skill composition")
        groups = list(task.test_groups)
        own = self.metrics[self.metrics.model == self.model].sort_values("step")
        title = f"{self.spec.name}, {self.label}"
        if task.name == "multitask_parity":
            steps = emergence.skill_steps(self.metrics).dropna(subset=["step"])
            steps = steps[steps.step > 0].assign(frequency=zipf_probs(task.n_tasks, task.zipf_exponent)[steps.skill])
            try:
                fit = emergence.fit_power_law(steps.frequency, steps.step)
            except ValueError:
                fit = None
            figures.plot_skills(own, groups, [f"skill {i}" for i in range(len(groups))],
                                {"kind": "power law", "steps": steps, "fit": fit}, path, title)
            found = (f"step ~ p^-{fit.exponent:.2f} (95% interval {fit.exponent_low:.2f}-{fit.exponent_high:.2f})"
                     if fit else "too few learned skills for a fit")
            return ("Left: the representative model's test accuracy on each skill (colour: frequency rank, 0 the most "
                    "frequent) over training: each jumps on its own while the mean rises smoothly. Right: the step "
                    f"at which each model learns each skill (accuracy >= 0.95) against the skill's frequency: {found}; "
                    "the quantization model predicts p^-1.")
        keys = figures.setting_keys(self.grid)
        axis = keys[0] if keys else "train.seed"
        last = self.metrics[self.metrics.step == self.metrics.step.max()].copy()  # metrics carry the swept columns
        lacking_N = np.minimum(1.0, 2 * (1 - last.test_acc_k1.to_numpy())) * task.n_tasks  # a lacking skill: 1/2 right
        for size, group in enumerate(groups, start=1):
            last[f"pred_{group}"] = [skill_graph.tuple_accuracy(task.n_tasks, m, size, task.compose_rule)
                                     for m in lacking_N]
        figures.plot_skills(own, groups, [f"k' = {s}" for s in range(1, len(groups) + 1)],
                            {"kind": "composition", "table": last, "axis": axis}, path, title)
        return ("Left: the representative model's accuracy on held-out tuples of k' skills over training. Right: the "
                f"last step's accuracy per tuple size against {axis} (mean over the other settings), beside the "
                "Arora-Goyal prediction from the single-skill accuracy (a lacking skill guessed; "
                "`lab.analysis.skill_graph.tuple_accuracy`).")


FIGURES = {
    "curves.png": ("Loss and accuracy", Report.curves),
    "weight_norm.png": ("Weight norm", Report.weight_norm),
    "softmax_collapse.png": ("Softmax collapse", Report.softmax_collapse),
    "fourier_spectrum.png": ("Fourier spectrum of the embedding over training", Report.fourier_spectrum),
    "neuron_frequencies.png": ("Neuron frequencies at the last checkpoint", Report.neuron_frequencies),
    "progress_measures.png": ("Progress measures", Report.progress_measures),
    "parity_pruning.png": ("Sparse parity: relevant-bit weight and the loss bump", Report.parity_pruning),
    "trajectory_pca.png": ("Weight trajectories (joint PCA)", Report.trajectory_pca),
    "steps_to_generalize.png": ("Steps to generalize", Report.steps_to_generalize),
    "phase_diagram.png": ("Phase diagram", Report.phase_diagram),
    "universality.png": ("Universal neurons across seeds", Report.universality),
    "neuron_examples.png": ("Heuristic neurons over the (a, b) grid", Report.neuron_examples),
    "ablation_curves.png": ("Ablating heuristic and high-effect neurons", Report.ablation_curves),
    "heuristic_emergence.png": ("Heuristics over training", Report.heuristic_emergence),
    "skills.png": ("Skills: emergence and composition", Report.skills),
    "reference.png": ("Against the published runs", Report.reference),
}


def _draw(report: Report, file: str, title: str, draw: Callable[[Report, Path], str]) -> Entry:
    path = report.out / file
    try:
        return Entry(file, title, caption=draw(report, path))
    except Skip as reason:
        path.unlink(missing_ok=True)  # a figure left from an earlier report would now be wrong
        return Entry(file, title, skipped=str(reason))


def write_index(report: Report, entries: list[Entry]) -> Path:
    """DIR/report/index.md: what the run is, its settings table, then each figure or why it is missing."""
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
    return path


def build_report(run_dir: str | Path, model: int | None = None, reference: str | None = None) -> Path:
    """Draw the figures of a run into DIR/report and write DIR/report/index.md; return the index's path.

    Args:
        run_dir: a run directory written by `lab sweep`.
        model: the model for the one-model figures (default: the highest final test accuracy).
        reference: published numbers to hold the run against (a name of lab.config.REFERENCES; default: the
            spec's `reference`).

    Raises:
        LabError: run_dir is not a run, or model is not one of its models.
    """
    report = Report(run_dir, model, reference)
    report.out.mkdir(exist_ok=True)
    entries = [_draw(report, file, title, draw) for file, (title, draw) in FIGURES.items()]
    return write_index(report, entries)
