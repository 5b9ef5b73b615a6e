"""Example 9: skills emerge one by one in multitask sparse parity (after `lab sweep
sweeps/skills_emergence.toml`).

    .venv/bin/lab sweep sweeps/skills_emergence.toml        # a few minutes on a 2-core CPU
    .venv/bin/python docs/examples/09_skills_emergence.py [RUN_DIR]

Draws the per-skill test accuracy of one model beside the mean (a staircase of sudden skills under
a smooth average), the step at which each skill is learned against its frequency with a power-law
fit per width, and the mean test error against steps with a power-law fit.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lab  # noqa: E402
from lab.analysis.emergence import fit_power_law, skill_columns, skill_steps  # noqa: E402
from lab.tasks import zipf_probs  # noqa: E402

run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/skills_emergence")
task = run.spec.task
freq = zipf_probs(task.n_tasks, task.zipf_exponent)
metrics = run.metrics
learned = skill_steps(metrics).merge(run.grid, on="model")
learned["frequency"] = freq[learned.skill]
widths = sorted(run.grid["model.width"].unique())

fig, (ax_one, ax_freq, ax_loss) = plt.subplots(1, 3, figsize=(17, 5.5))
example = int(run.grid[(run.grid["model.width"] == widths[-1]) & (run.grid["train.seed"] == 0)].model.iloc[0])
own = metrics[metrics.model == example].sort_values("step")
cmap = plt.get_cmap("viridis")
for skill, column in enumerate(skill_columns(metrics)):
    ax_one.plot(own.step, own[column], color=cmap(skill / task.n_tasks), lw=1)
ax_one.plot(own.step, own.test_acc, color="black", lw=2.5, label="mean over skills (test accuracy)")
ax_one.set(xscale="log", xlabel="training step (log)", ylabel="test accuracy on the skill",
           title=f"model {example} (width {widths[-1]}): each skill jumps from chance to 1\n"
                 f"(colour: frequency rank, dark = most frequent); the mean rises smoothly")
ax_one.legend(loc="lower right", fontsize=8)

print("step at which each skill is learned (median over seeds), and the fit step ~ frequency^-a:")
for i, width in enumerate(widths):
    part = learned[learned["model.width"] == width]
    med = part.groupby("skill").step.median()
    ok = med.notna()
    color = plt.get_cmap("plasma")(i / max(1, len(widths) - 1) * 0.85)
    ax_freq.scatter(part.frequency, part.step, color=color, s=12, alpha=0.6)
    text = f"width {width}: {int(ok.sum())}/{task.n_tasks} skills learned"
    if ok.sum() >= 3:
        fit = fit_power_law(freq[med.index[ok]], med[ok])
        xs = np.geomspace(freq.min(), freq.max(), 20)
        ax_freq.plot(xs, fit(xs), color=color, label=f"{text}; step ~ p^-{fit.exponent:.2f} "
                                                      f"[{fit.exponent_low:.2f}, {fit.exponent_high:.2f}]")
        steps_text = ", ".join("-" if np.isnan(v) else f"{v:.0f}" for v in med.to_numpy())
        print(f"  width {width}: {steps_text}; exponent {fit.exponent:.2f} "
              f"(95% bootstrap interval {fit.exponent_low:.2f}-{fit.exponent_high:.2f})")
    else:
        ax_freq.plot([], [], color=color, label=text)
ax_freq.set(xscale="log", yscale="log", xlabel="skill frequency in the training data (Zipf)",
            ylabel="first step with skill test accuracy >= 0.95",
            title="rarer skills are learned later\n(dots: models; lines: power-law fits per width)")
ax_freq.legend(fontsize=7)

for i, width in enumerate(widths):
    part = 1 - metrics[(metrics["model.width"] == width) & (metrics.step > 0)].groupby("step").test_acc.mean()
    color = plt.get_cmap("plasma")(i / max(1, len(widths) - 1) * 0.85)
    ax_loss.plot(part.index, part.to_numpy(), color=color, label=f"width {width}")
error = 1 - metrics[(metrics["model.width"] == widths[-1]) & (metrics.step > 0)].groupby("step").test_acc.mean()
start = error.index[error.to_numpy() < 0.3][0]  # past the plateau at chance (error 0.5)
tail = error[(error.index >= start) & (error.index <= error.idxmin())]
fit = fit_power_law(tail.index, tail.to_numpy())
ax_loss.plot(tail.index, fit(tail.index), "k--", label=f"fit (width {widths[-1]}, from error 0.3 to the lowest): "
                                                      f"error ~ step^-{fit.exponent:.2f}")
print(f"mean test error of width {widths[-1]} vs step ({int(start)} to {int(error.idxmin())}): exponent {fit.exponent:.2f} "
      f"[{fit.exponent_low:.2f}, {fit.exponent_high:.2f}]; lowest error {error.min():.3f}")
ax_loss.set(xscale="log", yscale="log", xlabel="training step (log)", ylabel="mean test error over skills (log)",
            title="the mean error falls smoothly\nas skills are learned one by one")
ax_loss.legend(fontsize=7)
fig.suptitle(f"{run.spec.name}: {task.n_tasks} skills (sparse parities, k = {task.k} of {task.n_bits} bits), "
             f"Zipf exponent {task.zipf_exponent}")
fig.tight_layout()
out = "docs/figures/09_skills_emergence.png"
fig.savefig(out, dpi=100)
print("wrote", out)
