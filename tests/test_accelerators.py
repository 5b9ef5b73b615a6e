"""Tests of the grokking accelerators and the precise losses: Grokfast, the orthogonal gradient,
StableMax, the float64 loss, the softmax-collapse metric, and sweeps of named variants."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lab
from lab.config import SpecError
from lab.sweeps import expand
from lab.launch.runner import run_sweep
from lab.sweeps.spec import apply_overrides, spec_from_dict
from lab.train import build_programs
from lab.train.grad_transforms import grokfast_ema, grokfast_ma, orthogonal_gradient
from lab.train.losses import collapsed, log_stablemax, per_example_loss


def _grads(n_steps: int, seed: int = 0):
    keys = jax.random.split(jax.random.key(seed), n_steps)
    return [{"a": jax.random.normal(k, (3, 4)), "b": jax.random.normal(jax.random.fold_in(k, 1), (5,))} for k in keys]


def _run(transform, grads, params=None):
    state = transform.init(grads[0])
    out = []
    for g in grads:
        u, state = transform.update(g, state, params)
        out.append(u)
    return out


@pytest.mark.parametrize("transform", [grokfast_ema(0.9, 0.0), grokfast_ma(3, 0.0)], ids=["ema", "ma"])
def test_grokfast_with_lambda_zero_is_the_identity(transform):
    grads = _grads(6)
    for g, u in zip(grads, _run(transform, grads)):
        jax.tree.map(np.testing.assert_array_equal, g, u)


def test_grokfast_filters_match_the_reference_recurrences():
    grads = _grads(7)
    alpha, lamb, window = 0.9, 2.0, 3
    ema, ema_out, ma_out = None, [], []
    for t, g in enumerate(grads):
        g = np.asarray(g["a"])
        ema = g if ema is None else alpha * ema + (1 - alpha) * g
        ema_out.append(g + lamb * ema)
        past = [np.asarray(h["a"]) for h in grads[max(0, t - window + 1) : t + 1]]
        ma_out.append(g + lamb * np.mean(past, axis=0) if len(past) == window else g)
    for ours, ref in zip(_run(grokfast_ema(alpha, lamb), grads), ema_out):
        np.testing.assert_allclose(ours["a"], ref, rtol=1e-5, atol=1e-6)
    for ours, ref in zip(_run(grokfast_ma(window, lamb), grads), ma_out):
        np.testing.assert_allclose(ours["a"], ref, rtol=1e-5, atol=1e-6)


def test_orthogonal_update_is_orthogonal_to_the_weights_and_keeps_the_norm():
    params = _grads(1, seed=1)[0]
    (update,) = _run(orthogonal_gradient(), _grads(1), params)
    (grad,) = _grads(1)
    for name in params:
        u, w, g = (np.asarray(t[name], np.float64).ravel() for t in (update, params, grad))
        assert abs(u @ w) < 1e-5 * np.linalg.norm(u) * np.linalg.norm(w)
        assert abs(g @ w) > 1e-2 * np.linalg.norm(g) * np.linalg.norm(w)  # the gradient itself was not
        np.testing.assert_allclose(np.linalg.norm(u), np.linalg.norm(g), rtol=1e-5)
    # With plain SGD after it, the step changes no weight along its own direction.
    sgd = optax.chain(orthogonal_gradient(), optax.sgd(0.1))
    (step,) = _run(sgd, _grads(1), params)
    assert abs(np.vdot(step["a"], params["a"])) < 1e-6


def test_stablemax_is_a_distribution_with_softmax_order():
    logits = jax.random.normal(jax.random.key(3), (64, 13)) * 20
    p = np.exp(np.asarray(log_stablemax(logits), np.float64))
    assert (p > 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    soft = np.asarray(jax.nn.softmax(logits))
    np.testing.assert_array_equal(p.argmax(-1), soft.argmax(-1))
    np.testing.assert_array_equal(np.argsort(p, -1), np.argsort(np.asarray(logits), -1))  # same order


def test_float64_and_exact_losses_match_an_exact_reference_on_extreme_logits():
    logits = jnp.asarray([[20.0, 0.0, 0.0], [40.0, 0.0, 0.0], [60.0, -10.0, 5.0], [0.0, 0.0, 0.0], [-30.0, 30.0, 0.0]])
    y = jnp.asarray([0, 0, 0, 1, 0])
    rows, labels = np.asarray(logits, np.float64), np.asarray(y)
    # -log p(y) = log(1 + sum_{j != y} exp(x_j - x_y)), with log1p: exact in float64 for these rows.
    exact = np.array([math.log1p(sum(math.exp(v - r[c]) for j, v in enumerate(r) if j != c))
                      for r, c in zip(rows, labels)])
    assert exact[0] == pytest.approx(2 * math.exp(-20)) and exact[2] > 0

    plain = np.asarray(per_example_loss(logits, y, "cross_entropy"))
    assert (plain[:3] == 0).all()  # softmax collapse in float32: a lead of 20 already gives exactly 0
    np.testing.assert_array_equal(np.asarray(collapsed(logits, y, "cross_entropy")), [1, 1, 1, 0, 0])

    f64 = np.asarray(per_example_loss(logits, y, "cross_entropy", "float64"))
    assert f64.dtype == np.float32
    np.testing.assert_allclose(f64[[0, 3, 4]], exact[[0, 3, 4]], rtol=1e-6)  # float64 is exact up to a lead of ~37
    assert (f64[1:3] == 0).all()  # and collapses beyond: float64 delays collapse, it does not remove it
    g64 = jax.jit(jax.grad(lambda z: per_example_loss(z, y, "cross_entropy", "float64")[0]))(logits)
    np.testing.assert_allclose(g64[0], [-2 * math.exp(-20), math.exp(-20), math.exp(-20)], rtol=1e-5)

    ours = np.asarray(per_example_loss(logits, y, "cross_entropy", "exact"))
    np.testing.assert_allclose(ours, exact, rtol=1e-5)
    assert (ours > 0).all()
    # The exact loss has a gradient where the float32 one has none.
    g_exact = jax.grad(lambda z: per_example_loss(z, y, "cross_entropy", "exact")[1])(logits)
    g32 = jax.grad(lambda z: per_example_loss(z, y, "cross_entropy")[1])(logits)
    assert float(jnp.abs(g_exact[1, 0])) > 0 and float(jnp.abs(g32[1, 0])) == 0

    # StableMax does not collapse on the same logits; its three precisions agree.
    s_exact = np.array([math.log1p(sum((v + 1 if v >= 0 else 1 / (1 - v)) for j, v in enumerate(r) if j != c)
                                   / (r[c] + 1 if r[c] >= 0 else 1 / (1 - r[c])))
                        for r, c in zip(rows, labels)])
    for precision in ("float32", "float64", "exact"):
        np.testing.assert_allclose(per_example_loss(logits, y, "stablemax", precision), s_exact, rtol=1e-5)


def test_variants_are_one_axis_and_share_groups_where_shapes_allow(spec_factory):
    raw = {"task": {"p": 11, "train_frac": 0.5}, "model": {"kind": "mlp", "d_embed": 8, "width": 16},
           "train": {"steps": 40, "log_every": 10, "checkpoints": 3, "lr": 1e-2},
           "sweep": {"seeds": 2, "train.lr": [1e-2, 3e-3], "variants": {
               "adamw": {"train.weight_decay": 1.0},
               "no_wd": {"train": {"weight_decay": 0.0}},
               "grokfast": {"train.grad_filter": "grokfast_ema", "train.grokfast_lambda": 2.0},
               "stablemax": {"train.loss": "stablemax", "train.weight_decay": 0.0, "train.orthogonal_grad": True}}}}
    spec = spec_from_dict(raw)
    groups = expand(spec)
    assert [g.size for g in groups] == [8, 4, 4]  # adamw + no_wd differ only in a per-model number
    assert groups[1].spec.train.grad_filter == "grokfast_ema" and groups[2].spec.train.loss == "stablemax"
    assert np.asarray(groups[0].hparams().weight_decay).tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert spec_from_dict(spec.to_dict()) == spec  # round trip through run.json
    # A variant that leaves a per-model number alone gets the spec's value, whoever shares its group.
    mixed = spec_from_dict({**raw, "sweep": {"variants": {"a": {"train.weight_decay": 0.5}, "b": {"train.lr": 0.02}}}})
    (group,) = expand(mixed)
    assert np.asarray(group.hparams().weight_decay).tolist() == [0.5, 1.0]
    np.testing.assert_allclose(group.hparams().lr, [0.01, 0.02])
    overridden = spec_from_dict(apply_overrides(raw, ["sweep.seeds=1", "train.steps=20"]))
    assert overridden.sweep.variants == spec.sweep.variants and overridden.sweep.seeds == 1
    with pytest.raises(SpecError, match="sweep.variants.adamw sets 'train.lr', which is also a sweep axis"):
        spec_from_dict({**raw, "sweep": {"train.lr": [1e-2], "variants": {"adamw": {"train.lr": 1e-3}}}})
    with pytest.raises(SpecError, match="unknown key 'train.grokfast'"):
        spec_from_dict({**raw, "sweep": {"variants": {"bad": {"train.grokfast": 1.0}}}})
    with pytest.raises(SpecError, match="train.grad_filter = 'fast'"):
        spec_from_dict({**raw, "sweep": {"variants": {"bad": {"train.grad_filter": "fast"}}}})


def test_per_model_grokfast_lambda_zero_trains_like_no_filter(spec_factory):
    plain = spec_factory(seeds=1)
    filtered = spec_factory(seeds=1, axes=[("train.grokfast_lambda", (0.0, 5.0))], grad_filter="grokfast_ema")
    (g_plain,), (g_filt,) = expand(plain), expand(filtered)

    def final_params(group):
        programs = build_programs(group.spec, group.n_train_max())
        hp = group.hparams()
        state, data = programs.init(hp), programs.data(hp)
        for _ in range(3):
            state, _ = programs.chunk(state, data, hp)
        return jax.device_get(state.params)

    ref, both = final_params(g_plain), final_params(g_filt)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6), ref, both)
    assert not np.allclose(both["W_in"][0], both["W_in"][1])  # lambda 5 really changed the other model


@pytest.mark.parametrize("train", [{"grad_filter": "grokfast_ma", "grokfast_window": 4},
                                   {"grad_filter": "grokfast_ema", "orthogonal_grad": True,
                                    "loss": "stablemax", "loss_precision": "float64"},
                                   {"loss_precision": "exact"}], ids=["ma", "ema_ortho_stable64", "exact"])
def test_filter_state_is_checkpointed_and_the_run_records_its_loss(spec_factory, tmp_path, train):
    spec = spec_factory(seeds=1, **train)
    run = lab.open(run_sweep(spec, tmp_path / "run", progress=False))
    assert run.spec.train.loss == spec.train.loss and run.spec.train.loss_precision == spec.train.loss_precision
    opt_state = run.state(run.steps[-1]).opt_state
    counts = [np.asarray(x) for x in jax.tree.leaves(opt_state) if np.asarray(x).dtype == np.int32]
    assert any((c == spec.train.steps).all() for c in counts)  # the filter's step count was saved
    assert {"train_collapse"} <= set(run.metrics.columns)
    assert run.metrics.train_collapse.between(0, 1).all()


def test_report_of_a_variant_sweep_plots_steps_to_generalize_per_variant(tmp_path, capsys):
    from lab.cli import main

    raw = {"task": {"p": 11, "train_frac": 0.5}, "model": {"kind": "mlp", "d_embed": 8, "width": 16},
           "train": {"steps": 40, "log_every": 10, "checkpoints": 3, "lr": 1e-2},
           "sweep": {"seeds": 2, "variants": {"adamw": {"train.weight_decay": 1.0},
                                              "grokfast": {"train.grad_filter": "grokfast_ema"}}}}
    run_dir = run_sweep(spec_from_dict(raw, name="methods"), tmp_path / "run", progress=False)
    assert main(["report", str(run_dir)]) == 0
    text = (run_dir / "report" / "index.md").read_text()
    assert "![Steps to generalize](steps_to_generalize.png)" in text and "For each variant (x)" in text
    assert "**variant** `grokfast`: train.grad_filter = grokfast_ema" in text
    assert (run_dir / "report" / "steps_to_generalize.png").stat().st_size > 5_000


def test_a_run_from_before_the_new_fields_still_resumes(spec_factory, tmp_path):
    import json

    spec = spec_factory(seeds=1, steps=40)
    out = run_sweep(spec.replace("train.steps", 20), tmp_path / "run", progress=False)
    meta = json.loads((out / "run.json").read_text())
    for key in ("loss_precision", "grad_filter", "grokfast_alpha", "grokfast_lambda", "grokfast_window",
                "orthogonal_grad"):
        del meta["spec"]["train"][key]  # as an older lab wrote it
    meta["spec"]["train"]["steps"] = 40
    (out / "run.json").write_text(json.dumps(meta))
    metrics = out / "group_000" / "metrics.csv"
    old = metrics.read_text().splitlines()
    cut = old[0].split(",").index("train_collapse")
    metrics.write_text("\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != cut) for line in old) + "\n")
    run = lab.open(run_sweep(spec, out, progress=False))  # resumes from step 20 instead of refusing
    assert run.metrics.step.max() == 40 and run.metrics.train_collapse.isna().sum() == 3  # steps 0, 10, 20: none
    assert run.metrics.train_collapse.notna().sum() == 2
