"""Example 10: universal neurons across 9 seeds of a modular-addition MLP (after `lab sweep
sweeps/universal_neurons.toml`).

    .venv/bin/lab sweep sweeps/universal_neurons.toml      # about 2.5 minutes on a 2-core CPU
    .venv/bin/python docs/examples/10_universal_neurons.py [RUN_DIR]

Correlates every neuron of every seed with every neuron of the 8 other seeds over all p^2 inputs
(`lab.analysis.universality`), against a baseline of randomly rotated neuron bases; groups the
neurons into families by their dominant Fourier frequency; and follows the universal fraction over
training. Prints the figures quoted in docs/10_universal_neurons.md and draws
docs/figures/10_universal_neurons.png.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lab  # noqa: E402
from lab.analysis.activations import activation_table, complete_inputs  # noqa: E402
from lab.analysis.universality import families_by_frequency, universality  # noqa: E402

FAMILY_MIN = 5  # a seed "uses" a frequency when at least this many of its neurons have it as dominant

run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/universal_neurons")
spec = run.spec_of(0)
p, models = spec.task.p, list(run.grid.model)
x = complete_inputs(spec)


def tables_at(step):
    return [activation_table(run.params(m, step), spec, x=x) for m in models]


last = run.steps[-1]
tables = tables_at(last)
out = universality(tables, n_rotations=10)
final = run.metrics[run.metrics.step == last]
print(f"{len(models)} seeds, test accuracy {final.test_acc.min():.3f}-{final.test_acc.max():.3f}; "
      f"{tables[0].shape[1]} neurons each, {x.shape[0]} inputs")
print(f"mean best-match correlation {np.nanmean(out['mean_max_corr']):.3f}; baseline mean "
      f"{out['baseline_mean_max_corr'].mean():.3f}, 99th percentile {out['threshold']:.3f}")
print(f"universal (above the baseline's 99th percentile): {out['fraction_universal']:.1%} "
      f"(per seed {out['fraction_universal_per_model'].min():.1%}-{out['fraction_universal_per_model'].max():.1%})")
print(f"universal by Gurnee et al.'s cut (excess correlation > 0.5): {out['fraction_universal_by_excess']:.2%} "
      f"({int(out['universal_by_excess'].sum())} of {out['universal_by_excess'].size} neurons)")

families = [families_by_frequency(t, p, u) for t, u in zip(tables, out["universal_by_excess"])]
uses = np.zeros((len(models), p // 2 + 1), int)  # neurons per (seed, dominant frequency)
for i, fam in enumerate(families):
    counts = fam.family.value_counts()
    uses[i, counts.index.to_numpy()] = counts.to_numpy()
used = uses >= FAMILY_MIN
for i, m in enumerate(models):
    print(f"seed {m}: frequencies used {np.flatnonzero(used[i][1:]) + 1}")

rows = []  # each neuron: its excess, and how many other seeds use its frequency
for i, fam in enumerate(families):
    shared = used[:, fam.family.to_numpy()].sum(axis=0) - used[i, fam.family.to_numpy()]
    rows.append(pd.DataFrame({"seed": i, "excess": out["excess"][i], "shared": shared,
                              "mean_max": out["mean_max_corr"][i], "family": fam.family}))
neurons = pd.concat(rows)
by_shared = neurons.groupby("shared").agg(neurons=("excess", "size"), excess=("excess", "mean"),
                                          universal=("excess", lambda e: float((e > 0.5).mean())))
print("excess correlation by how many of the 8 other seeds use the neuron's frequency:")
print(by_shared.round(3).to_string())

over_steps = []
for step in run.steps[1:]:
    u = universality(tables_at(step), n_rotations=3)
    acc = run.metrics[run.metrics.step == step].test_acc.mean()
    over_steps.append({"step": step, "percentile": u["fraction_universal"], "excess": u["fraction_universal_by_excess"],
                       "mean_max": float(np.nanmean(u["mean_max_corr"])), "test_acc": acc})
    print(f"step {step:5d}: test acc {acc:.3f}, mean best-match {over_steps[-1]['mean_max']:.3f}, "
          f"universal {u['fraction_universal']:.1%} (percentile) / {u['fraction_universal_by_excess']:.2%} (excess)")
over_steps = pd.DataFrame(over_steps)

fig, axes = plt.subplots(1, 4, figsize=(21, 4.6))
ax = axes[0]
bins = np.linspace(0, 1, 41)
ax.hist(out["baseline_mean_max_corr"].ravel(), bins=bins, density=True, color="#bdbdbd", label="rotated baseline")
ax.hist(out["mean_max_corr"].ravel(), bins=bins, density=True, histtype="step", lw=2, label="neurons")
ax.axvline(out["threshold"], color="k", ls="--", lw=1, label="baseline 99th pct")
ax.set(xlabel="mean over 8 other seeds of the best-match correlation", ylabel="density",
       title=f"{out['fraction_universal']:.0%} above the baseline; {out['fraction_universal_by_excess']:.1%} excess > 0.5")
ax.legend(fontsize=8)
ax = axes[1]
im = ax.imshow(uses[:, 1:], aspect="auto", cmap="Blues")
ax.set(xlabel="dominant frequency k", ylabel="seed", title="neurons per frequency family and seed",
       xticks=range(0, p // 2, 4), xticklabels=range(1, p // 2 + 1, 4))
fig.colorbar(im, ax=ax, fraction=0.046)
ax = axes[2]
for shared, part in neurons.groupby("shared"):
    ax.scatter(np.full(len(part), shared) + np.random.default_rng(shared).uniform(-0.3, 0.3, len(part)),
               part.excess, s=3, alpha=0.3, color="#3182bd")
ax.plot(by_shared.index, by_shared.excess, "ko-", label="mean")
ax.axhline(0.5, color="#e6550d", ls="--", lw=1, label="Gurnee et al.'s cut")
ax.set(xlabel="other seeds using the neuron's frequency", ylabel="excess correlation over the baseline",
       title="a neuron is universal when its frequency is")
ax.legend(fontsize=8)
ax = axes[3]
ax.plot(over_steps.step, over_steps.percentile, "o-", label="universal (above baseline 99th pct)")
ax.plot(over_steps.step, over_steps.excess, "s-", label="universal (excess > 0.5)")
ax.plot(over_steps.step, over_steps.mean_max, "^-", label="mean best-match correlation")
ax.plot(over_steps.step, over_steps.test_acc, "k--", label="test accuracy")
ax.set(xscale="log", xlabel="step", ylim=(0, 1.02), title="universality over training")
ax.legend(fontsize=8)
fig.suptitle(f"Universal neurons: {len(models)} seeds of a {tables[0].shape[1]}-neuron MLP on x + y mod {p}")
fig.tight_layout()
fig.savefig("docs/figures/10_universal_neurons.png", dpi=110)
print("wrote docs/figures/10_universal_neurons.png")
