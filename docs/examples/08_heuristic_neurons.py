"""Example 8: heuristic neurons in models trained on integer addition (after `lab sweep
sweeps/integer_heuristics.toml`, an MLP, or sweeps/integer_heuristics_transformer.toml).

    .venv/bin/lab sweep sweeps/integer_heuristics.toml      # about 1 minute on a 2-core CPU
    .venv/bin/python docs/examples/08_heuristic_neurons.py [RUN_DIR]

Scores every neuron of the last MLP layer of every model at every saved step against the heuristic
families (`lab.analysis.heuristics`), prints the composition at the end, draws example neurons over
the (a, b) grid and the share of neurons that match a heuristic over training, then ranks neurons
by direct logit attribution and activation patching (`lab.analysis.attribution`), finds the
smallest set that keeps 90% of the accuracy, and compares ablations of heuristic, high-effect and
random neurons. For a transformer it also reads the neurons' roles and ablates each head.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lab  # noqa: E402
from lab.analysis.activations import activation_table, complete_dataset  # noqa: E402
from lab.analysis.heuristics import FAMILIES, grid_values, score_neurons, top_prompt_labels  # noqa: E402

MATCH = 0.5  # a neuron "implements" its best heuristic when the correlation is at least this

run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/integer_heuristics")
task = run.spec.task
x, y_all = complete_dataset(run.spec)  # every pair, in all_pairs(task) order
v = grid_values(task)


def acts_of(model, step):
    cfg = run.spec_of(model)
    return activation_table(run.params(model, step), cfg, x=x)


rows, final = [], {}
for model in run.grid.model:
    for step in run.steps:
        acts = acts_of(model, step)
        table = score_neurons(acts, task)
        live = table[~table.dead]
        rows.append({"model": model, "step": step, "live": len(live),
                     **{f: float(((live.family == f) & (live.score >= MATCH)).sum() / max(len(live), 1))
                        for f in FAMILIES}})
        if step == run.steps[-1]:
            final[model] = (table, acts)
over_steps = pd.DataFrame(rows)

last = run.metrics[run.metrics.step == run.steps[-1]].set_index("model")
for model, (table, _) in final.items():
    live = table[~table.dead]
    counts = live[live.score >= MATCH].family.value_counts()
    print(f"model {model}: test acc {last.loc[model, 'test_acc']:.3f}; {len(live)} live neurons of {len(table)}; "
          f"matching a heuristic (r >= {MATCH}): {int(counts.sum())} ({counts.sum() / len(live):.0%}); "
          + ", ".join(f"{f} {int(counts.get(f, 0))}" for f in FAMILIES))
    print("   median best score", f"{live.score.median():.2f}", "| top patterns:",
          "; ".join(live.sort_values("score", ascending=False).pattern.head(5)))
    labels = top_prompt_labels(final[model][1], task)
    labelled = labels[labels.labelled]
    print(f"   Nikankin et al.'s rule (>= 60% of the top 5% prompts fit a rule covering <= 30% of the grid): "
          f"{len(labelled)} neurons ({len(labelled) / len(labels):.0%}): "
          + ", ".join(f"{f} {n}" for f, n in labelled.family.value_counts().items()))

fig = plt.figure(figsize=(15, 7.5))
table, acts = final[run.grid.model.iloc[0]]
examples = []
for family in FAMILIES:  # the best neuron of each family that has one
    part = table[(table.family == family) & ~table.dead]
    if len(part):
        examples.append(part.sort_values("score").iloc[-1])
for i, row in enumerate(examples[:6]):
    ax = fig.add_subplot(2, 5, (1 if i < 3 else 6) + i % 3)
    grid = np.full((task.p, task.p), np.nan)
    grid[v["a"], v["b"]] = acts[:, int(row.neuron)]
    ax.imshow(grid, origin="lower", cmap="viridis")
    ax.set(title=f"neuron {int(row.neuron)}: {row.family}\n{row.pattern} (r = {row.score:.2f})", xlabel="b",
           ylabel="a")
    ax.title.set_fontsize(8)
ax = fig.add_subplot(1, 5, (4, 5))
mean = over_steps.groupby("step")[list(FAMILIES)].mean()
bottom = np.zeros(len(mean))
for family in FAMILIES:
    ax.fill_between(mean.index, bottom, bottom + mean[family], step=None, alpha=0.8, label=family)
    bottom = bottom + mean[family].to_numpy()
gen = run.metrics.groupby("step").test_acc.mean()
ax2 = ax.twinx()
ax2.plot(gen.index, gen.to_numpy(), color="black", ls="--", label="test accuracy (mean)")
ax2.set_ylabel("test accuracy")
ax.set(xscale="symlog", xlabel="training step", ylabel=f"share of live neurons matching a heuristic (r >= {MATCH})",
       title="heuristic neurons over training (mean over seeds)")
ax.legend(loc="upper left", fontsize=8)
ax2.legend(loc="lower right", fontsize=8)
fig.suptitle(f"{run.spec.name}: integer {task.op} on [0, {task.p}); example neurons of model "
             f"{run.grid.model.iloc[0]} over the (a, b) grid, and heuristics over training")
fig.tight_layout()
out = f"docs/figures/08_{run.spec.name}.png"
fig.savefig(out, dpi=100)
print("wrote", out)

# Attribution and ablations: which neurons carry the answer, and are they the heuristic ones?
import jax  # noqa: E402

from lab.analysis import ablation, attribution, roles  # noqa: E402


def spearman(a, b) -> float:
    return float(np.corrcoef(pd.Series(a).rank(), pd.Series(b).rank())[0, 1])


print("\nattribution over the whole (a, b) table (mean ablation; random: 20 draws):")
for model, (table, _) in final.items():
    cfg = run.spec_of(model)
    params = run.params(model)
    dla = attribution.direct_logit_attribution(params, cfg, x=x, y=y_all)
    effects = attribution.patching_effects(params, cfg, x=x, y=y_all)
    live = ~table.dead.to_numpy()
    rho_h = spearman(table.score[live], effects[live])
    rho_d = spearman(dla[live], effects[live])
    found = attribution.smallest_sufficient_set(params, cfg, x=x, y=y_all,
                                                ranking=np.argsort(-effects, kind="stable"))
    kept = table.set_index("neuron").loc[found["neurons"]]
    print(f"model {model}: Spearman(patching effect, heuristic score) {rho_h:.2f}, (patching, DLA) {rho_d:.2f}; "
          f"smallest set keeping 90% of the accuracy: {found['k']} of {len(table)} neurons ({found['fraction']:.1%}), "
          f"accuracy {found['accuracy']:.3f} of {found['plain_accuracy']:.3f}; its neurons' best families: "
          + ", ".join(f"{f} {n}" for f, n in kept[kept.score >= MATCH].family.value_counts().items())
          + f", none (r < {MATCH}) {int((kept.score < MATCH).sum())}")
    ranked_h = table.assign(key=np.where(table.dead, -np.inf, table.score)).sort_values("key", ascending=False).neuron
    by_h = attribution.smallest_sufficient_set(params, cfg, x=x, y=y_all, ranking=ranked_h.to_numpy())
    print(f"   ranked by heuristic score instead: {by_h['k']} neurons ({by_h['fraction']:.1%}) keep 90%")
    sizes = [4, 16, 64]
    by_effect = attribution.ablation_curve(params, cfg, x=x, y=y_all, ranking=np.argsort(-effects, kind="stable"),
                                           sizes=sizes, n_random=20, key=jax.random.key(int(model)))
    by_heuristic = attribution.ablation_curve(params, cfg, x=x, y=y_all, ranking=ranked_h.to_numpy(), sizes=sizes,
                                              n_random=0)
    for (_, e), (_, h) in zip(by_effect.iterrows(), by_heuristic.iterrows()):
        print(f"   ablate {int(e.k):3d}: top patching {e.accuracy:.3f}, best heuristic {h.accuracy:.3f}, random "
              f"{e.random_accuracy_mean:.3f} [{e.random_accuracy_p05:.3f}, {e.random_accuracy_p95:.3f}]")
    if cfg.model.kind == "transformer":
        r = roles.neuron_roles(params, cfg)
        heads = [ablation.ablate(params, cfg, x=x, y=y_all, heads=[h])["accuracy"]
                 for h in range(cfg.model.n_heads)]
        print(f"   roles: {r.role.value_counts().to_dict()}; accuracy with one head zero-ablated: "
              + ", ".join(f"head {h} {a:.3f}" for h, a in enumerate(heads)))
