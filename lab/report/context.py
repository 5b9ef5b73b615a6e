"""The context of one `lab report`: the run, its representative model, and what several figures share."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lab.analysis import embedding_weights, frequency_norms
from lab.checkpoints import open_run
from lab.config import REFERENCES
from lab.errors import LabError
from lab.report import neurons
from lab.report.describe import model_label, representative_model
from lab.report.skip import Skip


def _spectrum(params, spec) -> jax.Array:
    """The embedding's frequency norms [K + 1], combined over its entries (as `summarize`'s "norms")."""
    weights = embedding_weights(params, spec)
    return jnp.sqrt(sum(jnp.square(frequency_norms(w_PxW, spec.task.p)) for w_PxW in weights.values()))


_spectrum_jit = jax.jit(_spectrum, static_argnums=1)


class Report:
    """The context every figure of `lab report` reads: the run, the representative model, and what is computed
    once and shared (its params and embedding spectrum per step, the neuron inputs and heuristic scores)."""

    def __init__(self, run_dir: str | Path, model: int | None = None, reference: str | None = None):
        self.run = open_run(run_dir)
        self.metrics, self.grid, self.spec = self.run.metrics, self.run.grid, self.run.spec
        if reference is not None and reference not in REFERENCES:
            raise LabError(f"--reference {reference!r} is not known; choose one of {', '.join(REFERENCES)}")
        self.against = reference or self.spec.reference
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
        self._spectra: dict[int, np.ndarray] = {}
        self._inputs: tuple | None = None
        self._heuristics: dict[int, tuple] = {}

    def params(self, step: int) -> dict:
        """The representative model's params at a saved step (the run reads each checkpoint once)."""
        return self.run.params(self.model, step)

    def spectrum(self, step: int) -> np.ndarray:
        """The representative model's embedding frequency norms [K + 1] at a saved step."""
        if step not in self._spectra:
            cfg = self.run.spec_of(self.model)
            self._spectra[step] = np.asarray(_spectrum_jit(self.params(step), cfg))
        return self._spectra[step]

    def need_modular(self) -> None:
        """Skip unless the task is modular arithmetic and checkpoints were saved."""
        task = self.spec.task
        if task.name != "modular":
            raise Skip(f"the task is {task.name}, not modular arithmetic, so there is no Fourier basis over Z_p")
        if not self.run.steps:
            raise Skip("the run has no saved checkpoints")

    def neuron_inputs(self) -> tuple:
        """The representative model's spec and the inputs and labels its neurons are measured on (built once)."""
        if not self.run.steps:
            raise Skip("the run has no saved checkpoints")
        if self._inputs is None:
            spec = self.run.spec_of(self.model)
            self._inputs = (spec, *neurons.dataset(spec))
        return self._inputs

    def heuristics(self, step: int) -> tuple:
        """Heuristic scores and activations of the representative model's neurons at a saved step (once per step)."""
        spec, x, _ = self.neuron_inputs()
        neurons.grid_task(spec)  # not applicable to parity: say so before computing anything
        if step not in self._heuristics:
            acts_NxF = neurons.tables_of(self.run, [self.model], x, step)[0]
            self._heuristics[step] = (neurons.heuristic_scores(acts_NxF, spec), acts_NxF)
        return self._heuristics[step]
