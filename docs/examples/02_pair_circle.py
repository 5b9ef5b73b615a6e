"""Example 2: the PAIR explorable's 5-neuron circle (after `lab sweep sweeps/pair_circle.toml`).

    .venv/bin/lab sweep sweeps/pair_circle.toml      # about 30 s on a 2-core CPU
    .venv/bin/python docs/examples/02_pair_circle.py [RUN_DIR]

Draws each model's five input vectors (the neurons' directions on the circle) and each neuron's
output phase against twice its input angle, and prints the measures per model.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lab  # noqa: E402
from lab.analysis import pair  # noqa: E402

run = lab.open(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/pair_circle")
last = run.metrics[run.metrics.step == run.steps[-1]].set_index("model")
fig, axes = plt.subplots(2, len(run.grid), figsize=(2.6 * len(run.grid), 5.4))
for model, (top, bottom) in zip(run.grid.model, axes.T):
    cfg = run.spec_of(model)
    g = pair.circle_geometry(run.params(model), cfg)
    act, acc = cfg.model.activation, last.loc[model, "test_acc"]
    print(f"model {model} ({act}): test acc {acc:.3f}, norm spread {g['norm_spread']:.3f}, spacing error "
          f"{g['spacing_error']:.3f} (doubled angles {g['spacing_error_doubled']:.3f}), "
          f"output/2x-input coherence {g['rotation_coherence']:.3f}")
    top.add_patch(plt.Circle((0, 0), g["norms"].mean(), fill=False, ls=":", color="grey"))
    for t, r in zip(g["theta"], g["norms"]):
        top.arrow(0, 0, r * np.cos(t), r * np.sin(t), head_width=0.05 * r, length_includes_head=True)
    lim = 1.2 * g["norms"].max()
    top.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=f"{act}, test acc {acc:.2f}",
            xlabel="weight on cos", ylabel="weight on sin")
    wrap = lambda x: np.mod(x, 2 * np.pi)  # noqa: E731
    bottom.scatter(wrap(2 * g["theta"]), wrap(g["output_phase"]))
    bottom.set(xlim=(0, 2 * np.pi), ylim=(0, 2 * np.pi), xlabel="2 x input angle", ylabel="output phase",
               title=f"coherence {g['rotation_coherence']:.2f}")
fig.suptitle("PAIR 5-neuron circle (p = 67): top, each neuron's input vector; bottom, its output phase "
             "against twice its input angle (a diagonal line = output rotates twice as fast)")
fig.tight_layout()
fig.savefig("docs/figures/02_pair_circle.png", dpi=100)
print("wrote docs/figures/02_pair_circle.png")
