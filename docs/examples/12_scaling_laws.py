"""Example 12: scaling of multitask sparse parity in parameters, data and steps, skill by skill (after
`lab sweep sweeps/skills_scaling.toml`).

    .venv/bin/lab sweep sweeps/skills_scaling.toml      # about 10 minutes on a 2-core CPU
    .venv/bin/python docs/examples/12_scaling_laws.py [RUN_DIR]

Fits the mean test loss with one power law in parameters, training examples and steps at once
(`lab.analysis.emergence.fit_joint_power_law`), finds for each skill the step, the model size and
the data size at which it is learned, and draws docs/figures/12_scaling_laws.png: the loss along
each axis with the fit, and the staircase of single skills beside the smooth mean.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lab  # noqa: E402
from lab import models  # noqa: E402
from lab.analysis.emergence import fit_joint_power_law, skill_columns, skill_steps  # noqa: E402

LEARNED = 0.95  # a skill is learned when its test accuracy reaches this
FIT_FROM = 500  # steps before this are the initial plateau, left out of the fit

pd.set_option("display.width", 160)
run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/skills_scaling")
short = {"model.width": "width", "model.depth": "depth", "task.n_train": "n_train"}
grid = run.grid.rename(columns=short)
grid["params"] = [models.param_count(run.params(m, run.steps[0])) for m in grid.model]
table = run.metrics.rename(columns=short).merge(grid[["model", "params"]], on="model")
columns = skill_columns(table)
n_skills = len(columns)
table["skills_learned"] = (table[columns] >= LEARNED).sum(axis=1)

rich = table[(table.n_train == table.n_train.max()) & (table.depth == 1) & (table.step >= FIT_FROM)]
fit = fit_joint_power_law(rich, ["params", "step"], "test_loss")
print(f"joint fit of the mean test loss, depth 1 with the most data ({fit.n_points} (model, step) rows, "
      f"step >= {FIT_FROM}):")
print(fit.describe())
print(f"prefactor {fit.prefactor:.3g}, R^2 of log loss {fit.r2:.3f}")
everything = fit_joint_power_law(table[table.step >= FIT_FROM], ["params", "n_train", "step"], "test_loss")
print(f"\nthe same over every model (both depths, all data sizes; {everything.n_points} rows):")
print(everything.describe())
print(f"R^2 of log loss {everything.r2:.3f}")

final = table[table.step == table.step.max()].sort_values(["depth", "n_train", "width"])
print("\nat the last step:")
print(final[["depth", "n_train", "width", "params", "test_loss", "test_acc", "skills_learned"]].to_string(index=False))

steps = skill_steps(table, LEARNED).merge(grid, on="model")  # one row per (model, skill)
first = steps.dropna(subset=["step"])
summary = pd.DataFrame({
    "step (largest model, most data)": steps[(steps.width == grid.width.max()) & (steps.depth == 1)
                                             & (steps.n_train == grid.n_train.max())].set_index("skill").step,
    "least params (most data)": first[first.n_train == grid.n_train.max()].groupby("skill").params.min(),
    "least data (width 512, depth 1)": first[(first.width == grid.width.max()) & (first.depth == 1)]
    .groupby("skill").n_train.min(),
}).reindex(range(n_skills))
print("\nwhen each skill (0 = most frequent) is learned:")
print(summary.to_string())

fig, axes = plt.subplots(1, 4, figsize=(22, 4.8))
depth1 = final[final.depth == 1]
ax = axes[0]
for n_train, part in depth1.groupby("n_train"):
    line = ax.plot(part.params, part.test_loss, "o-", label=f"{n_train:,} examples")[0]
    if n_train == grid.n_train.max():
        ax.plot(part.params, fit(np.column_stack([part.params, part.step])), ":", color=line.get_color())
ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="test loss at the last step",
       title="loss against parameters, depth 1 (dotted: joint fit)")
ax.legend(fontsize=8)
ax = axes[1]
for width, part in depth1.groupby("width"):
    ax.plot(part.n_train, part.test_loss, "o-", label=f"width {width}")
ax.set(xscale="log", yscale="log", xlabel="training examples", ylabel="test loss at the last step",
       title="loss against data (small data: overfitting, no power law)")
ax.legend(fontsize=8)
ax = axes[2]
most = table[(table.depth == 1) & (table.n_train == grid.n_train.max())]
for width, part in most.groupby("width"):
    part = part[part.step > 0]
    line = ax.plot(part.step, part.test_loss, label=f"width {width}")[0]
    ax.plot(part.step, fit(np.column_stack([part.params, part.step])), ":", color=line.get_color())
ax.axvline(FIT_FROM, color="grey", lw=0.8)
ax.set(xscale="log", yscale="log", xlabel="step", ylabel="test loss",
       title=f"loss against steps ({grid.n_train.max():,} examples)")
ax.legend(fontsize=8)
ax = axes[3]
big = most[most.width == grid.width.max()].sort_values("step")
big = big[big.step > 0]
loss_columns = [c.replace("test_acc", "test_loss") for c in columns]
for i, c in enumerate(loss_columns):
    ax.plot(big.step, big[c], color=plt.cm.viridis(i / n_skills), lw=1)
ax.plot(big.step, big.test_loss, "k", lw=3, label="mean over the test set")
ax.set(xscale="log", yscale="log", xlabel="step", ylabel="test loss",
       title=f"width {grid.width.max()}: each skill (colour: rank) and the mean")
ax.legend(fontsize=8)
fig.suptitle(f"Multitask sparse parity, {n_skills} skills, {grid.n_train.max():,} examples, depth 1: "
             f"loss ~ N^-{fit.exponents[0]:.2f} S^-{fit.exponents[1]:.2f} (R^2 {fit.r2:.2f})")
fig.tight_layout()
fig.savefig("docs/figures/12_scaling_laws.png", dpi=110)
print("wrote docs/figures/12_scaling_laws.png")
