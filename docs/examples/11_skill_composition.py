"""Example 11: competence on held-out tuples of skills against Arora and Goyal's prediction (after
`lab sweep sweeps/skill_composition.toml`).

    .venv/bin/lab sweep sweeps/skill_composition.toml      # about 1.5 minutes on a 2-core CPU
    .venv/bin/python docs/examples/11_skill_composition.py [RUN_DIR]

For every model and logged step: the measured accuracy on held-out tuples of 1..4 skills, and the
theory's prediction from the single-skill accuracy alone (`lab.analysis.skill_graph`). Also
simulates the random skills-and-text graph to show the theory's own curve (the "slingshot").
Draws docs/figures/11_skill_composition.png.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lab  # noqa: E402
from lab.analysis import skill_graph as sg  # noqa: E402

run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/skill_composition")
task = run.spec.task
sizes = list(range(1, task.test_sizes + 1))
table = run.metrics.copy()  # the metrics carry the swept columns
width = "model.width"


def predicted(acc_k1: float, k_prime: int) -> float:
    """Accuracy on k'-tuples predicted from the single-skill accuracy (lacking skills are guessed)."""
    lacking = min(1.0, 2 * (1 - acc_k1)) * task.n_tasks  # a lacking skill is still right half the time
    return sg.tuple_accuracy(task.n_tasks, lacking, k_prime, task.compose_rule)


for k_prime in sizes:
    table[f"pred_k{k_prime}"] = [predicted(a, k_prime) for a in table.test_acc_k1]

last = table[table.step == table.step.max()]
print(f"held-out tuples at step {int(table.step.max())} (mean over seeds); theory from the k = 1 accuracy:")
print(last.groupby(width)[[f"test_acc_k{s}" for s in sizes] + [f"pred_k{s}" for s in sizes]].mean().round(3)
      .to_string())
mid_step = 1500
mid = table[table.step == mid_step]
print(f"at step {mid_step}:")
print(mid.groupby(width)[[f"test_acc_k{s}" for s in sizes] + [f"pred_k{s}" for s in sizes]].mean().round(3)
      .to_string())
trained = table[table.step > 0]
for s in sizes:
    gap = trained[f"test_acc_k{s}"] - trained[f"pred_k{s}"]
    print(f"k' = {s}: measured - predicted over all checkpoints: mean {gap.mean():+.3f}, "
          f"median {gap.median():+.3f}")

fig, axes = plt.subplots(1, 3, figsize=(18, 5))
colors = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
ax = axes[0]
mean = mid.groupby(width)[[f"test_acc_k{s}" for s in sizes] + [f"pred_k{s}" for s in sizes]].mean()
for s, c in zip(sizes, colors):
    ax.plot(mean.index, mean[f"test_acc_k{s}"], "o-", color=c,
            label=f"k' = {s} measured" + (" (trained size)" if s == task.compose_k else ""))
    ax.plot(mean.index, mean[f"pred_k{s}"], "--", color=c, alpha=0.5, lw=3)
ax.set(xscale="log", xlabel="MLP width", ylabel="accuracy on held-out k'-tuples", ylim=(0.3, 1.02),
       title=f"competence against scale at step {mid_step} (dashed: theory from k' = 1)")
ax.set_xticks(mean.index, [str(w) for w in mean.index])
ax.minorticks_off()
ax.legend(fontsize=8)
ax = axes[1]
for s, c in zip(sizes, colors):
    ax.scatter(trained[f"pred_k{s}"], trained[f"test_acc_k{s}"], s=6, color=c, alpha=0.5,
               label=f"k' = {s}" + (" (trained size)" if s == task.compose_k else ""))
ax.plot([0, 1], [0, 1], "k:", lw=1)
ax.set(xlabel="predicted from the single-skill accuracy", ylabel="measured",
       title="every model at every logged step", xlim=(0.2, 1.02), ylim=(0.2, 1.02))
ax.legend(fontsize=8)
ax = axes[2]
thetas = np.linspace(0.0, 0.5, 26)
for kp, c in zip((1, 2, 4, 8), plt.cm.plasma(np.linspace(0, 0.8, 4))):
    ax.plot(thetas, [sg.predict_tuple_competence([kp], 1000, piece_error=t, k=4)[0] for t in thetas], color=c,
            label=f"k' = {kp} (theory)")
    sims = [sg.simulate(1000, 20000, 4, f, [kp], seed=i) for i, f in enumerate((0.01, 0.03, 0.06, 0.1, 0.15))]
    ax.plot([s.piece_error for s in sims], [s.tuple_competence[0] for s in sims], "o", color=c, ms=5)
ax.set(xlabel="error on training pieces of k = 4 skills", ylabel="competence on random k'-tuples",
       title="the theory: 1,000 skills, 20,000 pieces (dots: simulated graphs)", ylim=(0, 1.02))
ax.legend(fontsize=8)
fig.suptitle(f"Skill composition: {task.n_tasks} skills, trained on single skills and "
             f"{task.train_frac:.0%} of the {task.compose_k}-tuples")
fig.tight_layout()
fig.savefig("docs/figures/11_skill_composition.png", dpi=110)
print("wrote docs/figures/11_skill_composition.png")
