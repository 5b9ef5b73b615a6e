"""Analyses of trained models: pure functions of (params, configs), vmappable over models and steps."""

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
from lab.analysis import ablation, activations, emergence, heuristics, progress, roles, trajectories, universality

__all__ = [
    "ablation",
    "activations",
    "emergence",
    "heuristics",
    "progress",
    "roles",
    "trajectories",
    "universality",
    "basis_frequencies",
    "embedding_weights",
    "fourier_2d",
    "fourier_basis",
    "frequency_norms",
    "grid_inputs",
    "key_frequencies",
    "logits_grid",
    "neuron_activations_grid",
    "neuron_frequencies",
    "summarize",
]
