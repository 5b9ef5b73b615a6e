"""Analyses of trained models. Each one of a model takes `run.model(i, step)`, or params with their spec
(`run.spec_of(i)`), and its options by keyword; the array ones are pure jnp, vmappable over models and steps."""

from lab.analysis import (
    ablation,
    activations,
    attribution,
    emergence,
    heuristics,
    progress,
    roles,
    skill_graph,
    trajectories,
    universality,
)
from lab.analysis.fourier import (
    basis_frequencies,
    embedding_weights,
    fourier_2d,
    fourier_basis,
    frequency_norms,
    key_frequencies,
    neuron_frequencies,
)
from lab.analysis.neurons_fourier import grid_inputs, logits_grid, neuron_activations_grid, summarize

__all__ = [
    "ablation",
    "activations",
    "attribution",
    "basis_frequencies",
    "embedding_weights",
    "emergence",
    "fourier_2d",
    "fourier_basis",
    "frequency_norms",
    "grid_inputs",
    "heuristics",
    "key_frequencies",
    "logits_grid",
    "neuron_activations_grid",
    "neuron_frequencies",
    "progress",
    "roles",
    "skill_graph",
    "summarize",
    "trajectories",
    "universality",
]
