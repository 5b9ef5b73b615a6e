"""The neuron-level figures of `lab report`, registered functions of its context (`lab.report.context.Report`):
universality across seeds, heuristic neurons over the grid, ablation curves with the smallest sufficient
set, and heuristics over training.

The data comes from `lab.report.neurons`, the drawing from `lab.report.neuron_figures`; each function
returns its figure and caption, or raises Skip.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lab.analysis import attribution, heuristics, universality
from lab.report import neuron_figures, neurons
from lab.report.context import Report
from lab.report.registry import figure
from lab.report.skip import Skip


@figure("universality.png", "Universal neurons across seeds", order=110)
def universal_neurons(report: Report) -> tuple[Figure, str]:
    spec, x, _ = report.neuron_inputs()
    seeds = neurons.seed_siblings(report.grid, report.model)[: neurons.MAX_SEEDS]
    if len(seeds) < 2:
        raise Skip("no other model differs from the representative one only by seed; set sweep.seeds >= 2")
    tables = neurons.tables_of(report.run, seeds, x)
    out = universality.universality(tables)
    family_table, label = neurons.families(tables[0], report.params(report.run.steps[-1]), spec,
                                           out["universal"][0])
    fractions = {"percentile": out["fraction_universal"], "excess": out["fraction_universal_by_excess"]}
    fig = neuron_figures.plot_universality(out["mean_max_corr"], out["baseline_mean_max_corr"], out["threshold"],
                                           fractions, family_table, label,
                                           title=f"{report.spec.name}: {len(seeds)} seeds of {report.label}, "
                                                 f"step {report.run.steps[-1]}")
    return fig, (f"Gurnee et al.'s universality over {len(seeds)} seeds of the representative model's setting: each "
                 f"neuron's Pearson correlation with its best match in every other seed, averaged over the seeds (blue), "
                 f"against the same statistic for randomly rotated neuron bases (grey). Neurons right of the dashed "
                 f"99th percentile are universal ({out['fraction_universal']:.1%}; "
                 f"{out['fraction_universal_by_excess']:.1%} pass the paper's cut of excess correlation > 0.5; "
                 f"GPT-2: 1-5%). Right: the families of the first seed's neurons ({label}), universal ones in blue.")


@figure("neuron_examples.png", "Heuristic neurons over the (a, b) grid", order=120)
def neuron_examples(report: Report) -> tuple[Figure, str]:
    spec, _, _ = report.neuron_inputs()
    table, acts_NxF = report.heuristics(report.run.steps[-1])
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
    fig = neuron_figures.plot_neuron_examples(examples, title=f"{report.spec.name}, {report.label}, "
                                                                    f"step {report.run.steps[-1]}")
    return fig, (f"The best neuron of each heuristic family (Nikankin et al.) over the (a, b) grid, for the "
                 f"representative model at the last checkpoint. {int(counts.sum())} of {int((~table.dead).sum())} live "
                 f"neurons match their best heuristic with r >= {neurons.MATCH}: "
                 + ", ".join(f"{f} {int(n)}" for f, n in counts.items()) + ".")


@figure("ablation_curves.png", "Ablating heuristic and high-effect neurons", order=130)
def ablation_curves(report: Report) -> tuple[Figure, str]:
    spec, x, y = report.neuron_inputs()
    table, _ = report.heuristics(report.run.steps[-1])
    params, loss, n_f = report.params(report.run.steps[-1]), spec.train.loss, len(table)
    effects = attribution.patching_effects(params, spec, x=x, y=y, loss=loss)
    rankings = {"top patching effect": np.argsort(-effects, kind="stable"),
                "top heuristic score": neurons.heuristic_ranking(table)}
    sizes = sorted({int(k) for k in np.geomspace(1, n_f, 12).round()})
    curves = {name: attribution.ablation_curve(params, spec, x=x, y=y, ranking=ranking, sizes=sizes,
                                               n_random=20 if i == 0 else 0, loss=loss)
              for i, (name, ranking) in enumerate(rankings.items())}
    found = attribution.smallest_sufficient_set(params, spec, x=x, y=y, ranking=rankings["top patching effect"],
                                                loss=loss)
    fig = neuron_figures.plot_ablation_curves(curves, found["plain_accuracy"], n_f, (found["k"], found["accuracy"]),
                                              title=f"{report.spec.name}, {report.label}, step {report.run.steps[-1]}")
    per_layer = ""
    if spec.model.kind == "mlp" and spec.model.depth > 1:
        layers = attribution.smallest_sets_per_layer(params, spec, x=x, y=y, loss=loss)
        per_layer = " Per hidden layer (the others untouched): " + ", ".join(
            f"layer {int(r.layer)} {int(r.k)} ({r.fraction:.1%})" for r in layers.itertuples()) + "."
    return fig, (f"Accuracy over every input after mean-ablating the k neurons with the largest activation-patching "
                 f"effect (one neuron at a time) or the best heuristic scores, against k random neurons (20 draws). "
                 f"Keeping only the {found['k']} neurons with the largest patching effects ({found['fraction']:.1%} of "
                 f"the layer) and mean-ablating the rest gives accuracy {found['accuracy']:.3f} (plain model "
                 f"{found['plain_accuracy']:.3f}): the smallest such set that keeps 90% of the accuracy (Nikankin et "
                 f"al.: ~1.5% of neurons per layer)." + per_layer)


@figure("heuristic_emergence.png", "Heuristics over training", order=140)
def heuristic_emergence(report: Report) -> tuple[Figure, str]:
    if len(report.run.steps) < 2:
        raise Skip("the run has fewer than two saved checkpoints")
    _, x, y = report.neuron_inputs()
    rows, final = [], None
    for step in report.run.steps:
        table, _ = report.heuristics(step)
        live = table[~table.dead]
        rows.append({"step": step, **{f: float((live.matches & (live.family == f)).sum() / max(len(live), 1))
                                      for f in heuristics.FAMILIES}})
        final = table
    n_top = max(1, len(final) // 10)
    ranking, spec = neurons.heuristic_ranking(final), report.run.spec_of(report.model)
    effect = []
    for step in report.run.steps:  # the final top neurons and 20 random sets of as many, mean-ablated
        curve = attribution.ablation_curve(report.params(step), spec, x=x, y=y, ranking=ranking, sizes=[0, n_top],
                                           n_random=20).set_index("k")
        effect.append({"step": step, "plain_accuracy": curve.accuracy[0], "accuracy": curve.accuracy[n_top],
                       **{c: curve.loc[n_top, f"random_accuracy_{c}"] for c in ("mean", "p05", "p95")}})
    effect = pd.DataFrame(effect)
    own = report.metrics[report.metrics.model == report.model].sort_values("step")
    fig = neuron_figures.plot_heuristic_emergence(pd.DataFrame(rows), own, effect, n_top,
                                                  title=f"{report.spec.name}, {report.label}")
    return fig, (f"Left: the share of the representative model's live neurons whose best heuristic matches with r >= "
                 f"{neurons.MATCH}, by family, at every checkpoint, with train and test accuracy. Right: accuracy at "
                 f"every checkpoint after mean-ablating the {n_top} neurons (10%) with the best heuristic scores at the "
                 f"last checkpoint, beside {n_top} random neurons (20 draws per checkpoint: mean and 5-95%): when the "
                 f"heuristics appear and how much the model comes to rely on them.")
