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
    ablation,
    attribution,
    embedding_weights,
    emergence,
    frequency_norms,
    heuristics,
    key_frequencies,
    pair,
    progress,
    skill_graph,
    summarize,
    trajectories,
    universality,
)
from lab.checkpoints import open_run
from lab.errors import LabError
from lab.plots import plot_curves
from lab.report import figures, model_figures, neuron_figures, neurons
from lab.report.describe import describe_run, model_label, representative_model
from lab.report.phases import CLASSES, GROK_RATIO, LEARNED_LOSS, phase_table
from lab.sweeps.summary import TEST_FIT, first_step, format_summary, per_model
from lab.tasks import zipf_probs


class Skip(Exception):
    """A figure that does not apply to this run; its message says why (one line in index.md)."""


@dataclass(frozen=True)
class Entry:
    """One figure of the report: drawn (with a caption) or skipped (with the reason)."""

    file: str
    title: str
    caption: str = ""
    skipped: str = ""


def _spectrum(params, model_cfg, task_cfg) -> jax.Array:
    """The embedding's frequency norms [K + 1], combined over its entries (as `summarize`'s "norms")."""
    weights = embedding_weights(params, model_cfg, task_cfg)
    return jnp.sqrt(sum(jnp.square(frequency_norms(w_PxW, task_cfg.p)) for w_PxW in weights.values()))


_spectrum_jit = jax.jit(_spectrum, static_argnums=(1, 2))


class Report:
    """The state of one report: the run, the representative model and its params at each saved step."""

    def __init__(self, run_dir: str | Path, model: int | None = None):
        self.run = open_run(run_dir)
        self.metrics, self.grid, self.spec = self.run.metrics, self.run.grid, self.run.spec
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
            self._spectra[step] = np.asarray(_spectrum_jit(self.params(step), cfg.model, cfg.task))
        return self._spectra[step]

    def _need_modular(self) -> None:
        task = self.spec.task
        if task.name != "modular":
            raise Skip(f"the task is {task.name}, not modular arithmetic, so there is no Fourier basis over Z_p")
        if not self.run.steps:
            raise Skip("the run has no saved checkpoints")

    # -- one function per figure: draw it and return its caption, or raise Skip ---------------------

    def curves(self, path: Path) -> str:
        plot_curves(self.metrics, self.grid, path, title=self.spec.name)
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
        summary = summarize(self.params(step), cfg.model, cfg.task)
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
        row = self.grid.set_index("model").loc[self.model].to_dict()
        mask = progress.train_mask(cfg.task, cfg.model, row)
        freqs, _ = key_frequencies(self.spectrum(self.run.steps[-1]))  # those of the spectrum figure's title
        table = [{"step": s, **progress.measures(self.params(s), cfg.model, cfg.task, mask, freqs,
                                                       loss=cfg.train.loss)}
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
        shares = [pair.relevant_weight_share(self.params(s)["W_in"], task.k) for s in self.run.steps]
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
        if len(keys) != 2:
            named = f" ({', '.join(keys)})" if keys else ""
            count = f"{len(keys)} swept axis" if len(keys) == 1 else f"{len(keys)} swept axes"
            raise Skip(f"the sweep has {count} besides train.seed{named}; a phase diagram needs exactly two")
        table = phase_table(self.metrics, self.grid, keys)
        figures.plot_phase_diagram(table, keys, path, title=self.spec.name)
        return (f"Left: the median step at which test accuracy reached {TEST_FIT} per setting (grey hatched: never "
                f"for at least half the seeds). Right: each setting's majority class by the PAIR explorable's rule on "
                f"the logged losses ({', '.join(CLASSES)}: no learning if the minimum train loss stays above "
                f"{LEARNED_LOSS:g}, memorizes if the minimum test loss does, grokking if test/train loss once "
                f"reached {GROK_RATIO:g}); look for where the boundaries between the phases run.")


    # -- neuron-level figures (data: lab.report.neurons) ----------------------------------------------

    def _neuron_inputs(self) -> tuple:
        """The representative model's spec and the inputs and labels its neurons are measured on."""
        if not self.run.steps:
            raise Skip("the run has no saved checkpoints")
        spec = self.run.spec_of(self.model)
        return (spec, *neurons.dataset(spec))

    def universality(self, path: Path) -> str:
        spec, x, _ = self._neuron_inputs()
        seeds = neurons.seed_siblings(self.grid, self.model)[: neurons.MAX_SEEDS]
        if len(seeds) < 2:
            raise Skip("no other model differs from the representative one only by seed; set sweep.seeds >= 2")
        tables = neurons.tables_of(self.run, seeds, x)
        out = universality.universality(tables)
        family_table, label = neurons.families(tables[0], self.params(self.run.steps[-1]), spec,
                                               out["universal"][0])
        fractions = {"percentile": out["fraction_universal"], "excess": out["fraction_universal_by_excess"]}
        neuron_figures.plot_universality(out["mean_max_corr"], out["baseline_mean_max_corr"], out["threshold"],
                                         fractions, family_table, label, path,
                                         title=f"{self.spec.name}: {len(seeds)} seeds of {self.label}, "
                                               f"step {self.run.steps[-1]}")
        return (f"Gurnee et al.'s universality over {len(seeds)} seeds of the representative model's setting: each "
                f"neuron's Pearson correlation with its best match in every other seed, averaged over the seeds (blue), "
                f"against the same statistic for randomly rotated neuron bases (grey). Neurons right of the dashed "
                f"99th percentile are universal ({out['fraction_universal']:.1%}; "
                f"{out['fraction_universal_by_excess']:.1%} pass the paper's cut of excess correlation > 0.5; "
                f"GPT-2: 1-5%). Right: the families of the first seed's neurons ({label}), universal ones in blue.")

    def _heuristics(self, step: int) -> tuple:
        """Heuristic scores and activations of the representative model's neurons at a saved step."""
        spec, x, _ = self._neuron_inputs()
        neurons.grid_task(spec)  # not applicable to parity: say so before computing anything
        acts_NxF = neurons.tables_of(self.run, [self.model], x, step)[0]
        return neurons.heuristic_scores(acts_NxF, spec), acts_NxF

    def neuron_examples(self, path: Path) -> str:
        spec, _, _ = self._neuron_inputs()
        table, acts_NxF = self._heuristics(self.run.steps[-1])
        v = heuristics.grid_values(neurons.grid_task(spec))
        examples = []
        for family in heuristics.FAMILIES:  # the best live neuron of each family that has one
            part = table[(table.family == family) & ~table.dead]
            if len(part):
                row = part.sort_values("score", kind="stable").iloc[-1]
                grid_PxP = np.full((spec.task.p, spec.task.p), np.nan)
                grid_PxP[v["a"], v["b"]] = acts_NxF[:, int(row.neuron)]
                examples.append((grid_PxP, f"neuron {int(row.neuron)}: {row.family}\n{row.pattern} "
                                           f"(r = {row.score:.2f})"))
        counts = table[table.matches].family.value_counts()
        neuron_figures.plot_neuron_examples(examples, path, title=f"{self.spec.name}, {self.label}, "
                                                                  f"step {self.run.steps[-1]}")
        return (f"The best neuron of each heuristic family (Nikankin et al.) over the (a, b) grid, for the "
                f"representative model at the last checkpoint. {int(counts.sum())} of {int((~table.dead).sum())} live "
                f"neurons match their best heuristic with r >= {neurons.MATCH}: "
                + ", ".join(f"{f} {int(n)}" for f, n in counts.items()) + ".")

    def ablation_curves(self, path: Path) -> str:
        spec, x, y = self._neuron_inputs()
        table, _ = self._heuristics(self.run.steps[-1])
        params, loss, n_f = self.params(self.run.steps[-1]), spec.train.loss, len(table)
        effects = attribution.patching_effects(params, spec.model, spec.task, x, y, loss=loss)
        rankings = {"top patching effect": np.argsort(-effects, kind="stable"),
                    "top heuristic score": neurons.heuristic_ranking(table)}
        sizes = sorted({int(k) for k in np.geomspace(1, n_f, 12).round()})
        curves = {name: attribution.ablation_curve(params, spec.model, spec.task, x, y, ranking, sizes,
                                                   n_random=20 if i == 0 else 0, loss=loss)
                  for i, (name, ranking) in enumerate(rankings.items())}
        found = attribution.smallest_sufficient_set(params, spec.model, spec.task, x, y,
                                                    ranking=rankings["top patching effect"], loss=loss)
        neuron_figures.plot_ablation_curves(curves, found["plain_accuracy"], n_f, (found["k"], found["accuracy"]), path,
                                            title=f"{self.spec.name}, {self.label}, step {self.run.steps[-1]}")
        per_layer = ""
        if spec.model.kind == "mlp" and spec.model.depth > 1:
            layers = attribution.smallest_sets_per_layer(params, spec.model, spec.task, x, y, loss=loss)
            per_layer = " Per hidden layer (the others untouched): " + ", ".join(
                f"layer {int(r.layer)} {int(r.k)} ({r.fraction:.1%})" for r in layers.itertuples()) + "."
        return (f"Accuracy over every input after mean-ablating the k neurons with the largest activation-patching "
                f"effect (one neuron at a time) or the best heuristic scores, against k random neurons (20 draws). "
                f"Keeping only the {found['k']} neurons with the largest patching effects ({found['fraction']:.1%} of "
                f"the layer) and mean-ablating the rest gives accuracy {found['accuracy']:.3f} (plain model "
                f"{found['plain_accuracy']:.3f}): the smallest such set that keeps 90% of the accuracy (Nikankin et "
                f"al.: ~1.5% of neurons per layer)." + per_layer)

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
            neuron_figures.plot_skills(own, groups, [f"skill {i}" for i in range(len(groups))],
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
        for size, group in enumerate(groups, start=1):
            lacking_N = np.minimum(1.0, 2 * (1 - last.test_acc_k1.to_numpy())) * task.n_tasks
            last[f"pred_{group}"] = [skill_graph.tuple_accuracy(task.n_tasks, m, size, task.compose_rule)
                                     for m in lacking_N]
        neuron_figures.plot_skills(own, groups, [f"k' = {s}" for s in range(1, len(groups) + 1)],
                                   {"kind": "composition", "table": last, "axis": axis}, path, title)
        return ("Left: the representative model's accuracy on held-out tuples of k' skills over training. Right: the "
                f"last step's accuracy per tuple size against {axis} (mean over the other settings), beside the "
                "Arora-Goyal prediction from the single-skill accuracy (a lacking skill guessed; "
                "`lab.analysis.skill_graph.tuple_accuracy`).")

    def heuristic_emergence(self, path: Path) -> str:
        if len(self.run.steps) < 2:
            raise Skip("the run has fewer than two saved checkpoints")
        _, x, y = self._neuron_inputs()
        rows, final = [], None
        for step in self.run.steps:
            table, _ = self._heuristics(step)
            live = table[~table.dead]
            rows.append({"step": step, **{f: float((live.matches & (live.family == f)).sum() / max(len(live), 1))
                                          for f in heuristics.FAMILIES}})
            final = table
        n_top = max(1, len(final) // 10)
        top = neurons.heuristic_ranking(final)[:n_top]
        rand = np.random.default_rng(0).permutation(len(final))[:n_top]
        effect = ablation.ablation_over_steps(self.run, self.model, neurons=top, mode="mean", x=x, y=y)
        effect["random_accuracy"] = ablation.ablation_over_steps(self.run, self.model, neurons=rand, mode="mean",
                                                                 x=x, y=y).accuracy
        own = self.metrics[self.metrics.model == self.model].sort_values("step")
        neuron_figures.plot_heuristic_emergence(pd.DataFrame(rows), own, effect, n_top, path,
                                                title=f"{self.spec.name}, {self.label}")
        return (f"Left: the share of the representative model's live neurons whose best heuristic matches with r >= "
                f"{neurons.MATCH}, by family, at every checkpoint, with train and test accuracy. Right: accuracy at "
                f"every checkpoint after mean-ablating the {n_top} neurons (10%) with the best heuristic scores at the "
                f"last checkpoint, beside {n_top} random neurons: when the heuristics appear and how much the model "
                f"comes to rely on them.")


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
}


def _draw(report: Report, file: str, title: str, draw: Callable[[Report, Path], str]) -> Entry:
    path = report.out / file
    try:
        return Entry(file, title, caption=draw(report, path))
    except (Skip, neurons.NotApplicable) as reason:
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


def build_report(run_dir: str | Path, model: int | None = None) -> Path:
    """Draw the figures of a run into DIR/report and write DIR/report/index.md; return the index's path.

    Args:
        run_dir: a run directory written by `lab sweep`.
        model: the model for the one-model figures (default: the highest final test accuracy).

    Raises:
        LabError: run_dir is not a run, or model is not one of its models.
    """
    report = Report(run_dir, model)
    report.out.mkdir(exist_ok=True)
    entries = [_draw(report, file, title, draw) for file, (title, draw) in FIGURES.items()]
    return write_index(report, entries)
