"""Example 8: heuristic neurons in MLPs trained on integer addition (after `lab sweep
sweeps/integer_heuristics.toml`).

    .venv/bin/lab sweep sweeps/integer_heuristics.toml      # about 1 minute on a 2-core CPU
    .venv/bin/python docs/examples/08_heuristic_neurons.py [RUN_DIR]

Scores every hidden neuron of every model at every saved step against the heuristic families
(`lab.analysis.heuristics`), prints the composition at the end, and draws example neurons over the
(a, b) grid and the share of neurons that match a heuristic over training.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lab  # noqa: E402
from lab import models  # noqa: E402
from lab.analysis.heuristics import FAMILIES, grid_values, score_neurons  # noqa: E402
from lab.tasks import all_pairs  # noqa: E402

MATCH = 0.5  # a neuron "implements" its best heuristic when the correlation is at least this

run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/integer_heuristics")
task = run.spec.task
x = all_pairs(task)[0]
v = grid_values(task)


def acts_of(model, step):
    cfg = run.spec_of(model)
    _, acts = models.apply_with_activations(run.params(model, step), x, cfg.model, cfg.task)
    return np.asarray(acts[f"mlp_post_{cfg.model.depth - 1}"])


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
out = "docs/figures/08_heuristic_neurons.png"
fig.savefig(out, dpi=100)
print("wrote", out)

# Ablations: mean-ablate the neurons that match heuristics best against as many random neurons.
import jax  # noqa: E402

from lab.analysis.ablation import ablate, mean_activations, random_ablation_baseline  # noqa: E402

y_all = all_pairs(task)[1]
print("mean ablation over the whole (a, b) table (accuracy; random: mean and range over 20 draws):")
for model, (table, _) in final.items():
    cfg = run.spec_of(model)
    params = run.params(model)
    base = ablate(params, cfg.model, task, x, y_all)["accuracy"]
    means = mean_activations(params, cfg.model, task, x)
    ranked = table[~table.dead].sort_values("score", ascending=False).neuron.to_numpy()
    parts = []
    for n in (4, 16, 64):
        top = ablate(params, cfg.model, task, x, y_all, ranked[:n], mode="mean", mean_acts=means)["accuracy"]
        rand = random_ablation_baseline(params, cfg.model, task, x, y_all, n, n_draws=20,
                                        key=jax.random.key(int(model)), mode="mean", mean_acts=means)["accuracy"]
        parts.append(f"{n} best-matching {top:.3f} vs random {rand.mean():.3f} [{rand.min():.3f}, {rand.max():.3f}]")
    print(f"  model {model}: none {base:.3f}; " + "; ".join(parts))
