"""Example 11: competence on held-out tuples of skills against Arora and Goyal's prediction (after
`lab sweep sweeps/skill_composition.toml`).

    .venv/bin/lab sweep sweeps/skill_composition.toml      # about 3 minutes on a 2-core CPU
    .venv/bin/python docs/examples/11_skill_composition.py [RUN_DIR]

For every model and logged step: the measured accuracy on held-out tuples of 1..4 skills, and the
theory's prediction from the single-skill accuracy alone (`lab.analysis.skill_graph`). Also
simulates the random skills-and-text graph to show the theory's own curve (the "slingshot").
Draws docs/figures/11_<run folder>.png. With `--set task.compose_mix=true` (tuples of every size up
to compose_k in training) the same script compares the mixed training.
"""

import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lab  # noqa: E402
from lab.analysis import skill_graph as sg  # noqa: E402

run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/skill_composition")
task = run.spec.task
sizes = list(range(1, task.test_sizes + 1))
table = run.metrics.copy()  # the metrics carry the swept columns
width = "model.width"
trained_k = "task.compose_k" if "task.compose_k" in table else None
if trained_k is None:
    table[trained_k := "compose_k"] = task.compose_k
acc = [f"test_acc_k{s}" for s in sizes]
pred = [f"pred_k{s}" for s in sizes]


def predicted(acc_k1: float, k_prime: int) -> float:
    """Accuracy on k'-tuples predicted from the single-skill accuracy (lacking skills are guessed)."""
    lacking = min(1.0, 2 * (1 - acc_k1)) * task.n_tasks  # a lacking skill is still right half the time
    return sg.tuple_accuracy(task.n_tasks, lacking, k_prime, task.compose_rule)


for k_prime in sizes:
    table[f"pred_k{k_prime}"] = [predicted(a, k_prime) for a in table.test_acc_k1]

last = table[table.step == table.step.max()]
print(f"accuracy on held-out tuples of k' skills at step {int(table.step.max())} (mean over widths and seeds), "
      f"by the tuple size k trained on; theory from the k' = 1 accuracy:")
matrix = last.groupby(trained_k)[acc + pred].mean()
print(matrix.round(3).to_string())
if task.compose_rule == "count":  # a count above k never appears in training: the best a model can do
    ceiling = {(k, s): sum(math.comb(s, c) for c in range(min(k, s) + 1)) / 2**s
               for k in matrix.index for s in sizes}
    print("ceiling from the labels seen in training (counts <= k):")
    print(pd.DataFrame([[ceiling[k, s] for s in sizes] for k in matrix.index], index=matrix.index,
                       columns=acc).round(3).to_string())
print("by width:")
print(last.groupby([trained_k, width])[acc].mean().round(3).to_string())
mid_step = 1500
mid = table[table.step == mid_step]
print(f"at step {mid_step}:")
print(mid.groupby([trained_k, width])[acc + pred].mean().round(3).to_string())
trained = table[table.step > 0]
for k, part in trained.groupby(trained_k):
    gaps = ", ".join(f"k' = {s}: {(part[f'test_acc_k{s}'] - part[f'pred_k{s}']).median():+.3f}" for s in sizes)
    print(f"trained on {k}-tuples, measured - predicted (median over all checkpoints): {gaps}")

fig, axes = plt.subplots(1, 4, figsize=(24, 5))
colors = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
ax = axes[0]
im = ax.imshow(matrix[acc].to_numpy(), vmin=0.3, vmax=1, cmap="viridis")
for (i, j), value in np.ndenumerate(matrix[acc].to_numpy()):
    ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.8 else "k")
ax.set(xticks=range(len(sizes)), xticklabels=sizes, yticks=range(len(matrix)), yticklabels=matrix.index,
       xlabel="k' (skills per held-out test tuple)",
       ylabel="k (largest training tuple)" if task.compose_mix else "k (skills per training tuple)",
       title=f"accuracy at step {int(table.step.max())} (theory: 1.00 everywhere)")
fig.colorbar(im, ax=ax, fraction=0.046)
ax = axes[1]
k_mid = sorted(table[trained_k].unique())[len(table[trained_k].unique()) // 2]
mean = mid[mid[trained_k] == k_mid].groupby(width)[acc + pred].mean()
for s, c in zip(sizes, colors):
    ax.plot(mean.index, mean[f"test_acc_k{s}"], "o-", color=c,
            label=f"k' = {s} measured" + (" (trained size)" if s == k_mid else ""))
    ax.plot(mean.index, mean[f"pred_k{s}"], "--", color=c, alpha=0.5, lw=3)
ax.set(xscale="log", xlabel="MLP width", ylabel="accuracy on held-out k'-tuples", ylim=(0.3, 1.02),
       title=f"trained on {k_mid}-tuples: against scale at step {mid_step} (dashed: theory)")
ax.set_xticks(mean.index, [str(w) for w in mean.index])
ax.minorticks_off()
ax.legend(fontsize=8)
ax = axes[2]
for s, c in zip(sizes, colors):
    own = trained[trained[trained_k] == s]
    other = trained[trained[trained_k] != s]
    ax.scatter(other[f"pred_k{s}"], other[f"test_acc_k{s}"], s=4, color=c, alpha=0.35, label=f"k' = {s}")
    ax.scatter(own[f"pred_k{s}"], own[f"test_acc_k{s}"], s=14, color=c, marker="^", alpha=0.6,
               label=f"k' = {s}, the trained size" if len(own) else None)
ax.plot([0, 1], [0, 1], "k:", lw=1)
ax.set(xlabel="predicted from the single-skill accuracy", ylabel="measured",
       title="every model at every logged step", xlim=(0.2, 1.02), ylim=(0.2, 1.02))
ax.legend(fontsize=8)
ax = axes[3]
thetas = np.linspace(0.0, 0.5, 26)
for kp, c in zip((1, 2, 4, 8), plt.cm.plasma(np.linspace(0, 0.8, 4))):
    ax.plot(thetas, [sg.predict_tuple_competence([kp], 1000, piece_error=t, k=4)[0] for t in thetas], color=c,
            label=f"k' = {kp} (theory)")
    sims = [sg.simulate(1000, 20000, 4, f, [kp], seed=i) for i, f in enumerate((0.01, 0.03, 0.06, 0.1, 0.15))]
    ax.plot([s.piece_error for s in sims], [s.tuple_competence[0] for s in sims], "o", color=c, ms=5)
ax.set(xlabel="error on training pieces of k = 4 skills", ylabel="competence on random k'-tuples",
       title="the theory: 1,000 skills, 20,000 pieces (dots: simulated graphs)", ylim=(0, 1.02))
ax.legend(fontsize=8)
fig.suptitle(f"Skill composition: {task.n_tasks} skills, trained on single skills and {task.train_frac:.0%} of the "
             + ("tuples of each size 2..k" if task.compose_mix else "k-tuples")
             + "; tested on tuples never trained together")
fig.tight_layout()
out = f"docs/figures/11_{run.path.name}.png"  # 11_skill_composition.png for the default run
fig.savefig(out, dpi=110)
print("wrote", out)
