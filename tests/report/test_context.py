"""lab.report.context: a report's context is the run as lab.open reads it, its best model, shared cached data."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import lab
from lab.analysis import embedding_weights
from lab.analysis.activations import activation_table
from lab.config import REFERENCES
from lab.report.context import Report
from lab.report.neurons import MATCH
from lab.report.skip import Skip


@pytest.fixture(scope="module")
def report(lr_run):
    return Report(lr_run.path)


def _label(grid: pd.DataFrame, model: int) -> str:
    row = grid.set_index("model").loc[model]
    return f"model {model} (lr={row['train.lr']}, seed={int(row['train.seed'])})"


def test_the_context_holds_the_runs_grid_metrics_spec_and_steps_as_lab_open_reads_them(lr_run, report):
    opened = lab.open(lr_run.path)
    pd.testing.assert_frame_equal(report.grid, opened.grid)
    pd.testing.assert_frame_equal(report.metrics, opened.metrics)
    assert report.spec == opened.spec and report.run.steps == opened.steps
    assert len(report.grid) == 4 and sorted(report.grid["train.lr"].unique()) == [0.01, 0.03]
    assert report.out == lr_run.path / "report"
    assert report.against == ""  # the spec names no reference and none was asked for


def test_the_default_model_has_the_best_final_test_accuracy_and_says_so(report):
    last = report.metrics[report.metrics.step == report.metrics.step.max()].set_index("model")
    best = last.test_acc.max()
    assert last.test_acc[report.model] == best
    assert last.test_loss[report.model] == last[last.test_acc == best].test_loss.min()  # ties: the lower loss
    assert report.why == (f"the highest final test accuracy ({best:.3f}); choose another with --model")
    assert report.label == _label(report.grid, report.model)


def test_a_chosen_model_is_used_and_labelled_with_its_swept_values(lr_run):
    chosen = Report(lr_run.path, model=2)
    assert chosen.model == 2 and chosen.why == "chosen with --model"
    assert chosen.label == _label(chosen.grid, 2) and "lr=0.03" in chosen.label


def test_a_model_or_reference_the_run_does_not_have_is_a_lab_error(lr_run):
    with pytest.raises(lab.LabError, match=r"--model 4 is not in this run; models are 0\.\.3"):
        Report(lr_run.path, model=4)
    with pytest.raises(lab.LabError, match="--reference 'nowhere' is not known; choose one of " + REFERENCES[0]):
        Report(lr_run.path, reference="nowhere")
    assert Report(lr_run.path, reference=REFERENCES[-1]).against == REFERENCES[-1]


def test_params_are_the_representative_models_at_each_saved_step(lr_run, report):
    assert len(report.run.steps) >= 2
    for step in report.run.steps:
        jax.tree.map(np.testing.assert_array_equal, report.params(step), lr_run.params(report.model, step))
    first, last = report.params(report.run.steps[0]), report.params(report.run.steps[-1])
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(last)))


def test_the_spectrum_has_one_norm_per_frequency_whose_squares_sum_to_the_embeddings(report):
    p = report.spec.task.p
    cfg = report.run.spec_of(report.model)
    for step in (report.run.steps[0], report.run.steps[-1]):
        spectrum = report.spectrum(step)
        assert spectrum.shape == (p // 2 + 1,) and np.all(spectrum >= 0)
        squared = sum(float(np.sum(np.square(w))) for w in embedding_weights(report.params(step), cfg).values())
        np.testing.assert_allclose(np.sum(np.square(spectrum)), squared, rtol=1e-4)  # Parseval
    assert report.spectrum(report.run.steps[-1]) is report.spectrum(report.run.steps[-1])  # computed once
    assert not np.allclose(report.spectrum(report.run.steps[0]), report.spectrum(report.run.steps[-1]))


def test_neuron_inputs_are_every_pair_with_its_label_built_once(report):
    spec, x, y = report.neuron_inputs()
    p = report.spec.task.p
    assert spec == report.run.spec_of(report.model)
    x = np.asarray(x)
    assert x.shape == (p * p, 2)
    np.testing.assert_array_equal(x[:, 0] * p + x[:, 1], np.arange(p * p))  # row a * p + b
    np.testing.assert_array_equal(y, (x[:, 0] + x[:, 1]) % p)  # the labels of x + y mod p
    assert report.neuron_inputs() is report.neuron_inputs()


def test_heuristics_score_every_neuron_of_the_last_layer_at_each_step_once(lr_run, report):
    spec, x, _ = report.neuron_inputs()
    last = report.run.steps[-1]
    table, acts = report.heuristics(last)
    assert acts.shape == (spec.task.p ** 2, spec.model.width) and len(table) == spec.model.width
    np.testing.assert_allclose(acts, activation_table(lr_run.model(report.model, last), x=x), rtol=1e-6)
    assert list(table.neuron) == list(range(spec.model.width))
    assert table.matches.equals((table.score >= MATCH) & ~table.dead)
    assert report.heuristics(last) is report.heuristics(last)
    _, first_acts = report.heuristics(report.run.steps[0])
    assert not np.allclose(first_acts, acts)


def test_a_run_without_saved_checkpoints_skips_the_figures_that_need_them(lr_run):
    empty = Report(lr_run.path)
    empty.need_modular()  # a modular run with checkpoints: nothing to skip
    empty.run.steps = []  # as a run whose checkpoints are not written yet
    with pytest.raises(Skip, match="the run has no saved checkpoints"):
        empty.need_modular()
    with pytest.raises(Skip, match="the run has no saved checkpoints"):
        empty.neuron_inputs()
