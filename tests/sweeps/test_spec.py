"""lab.sweeps.spec: the shipped specs validate, bad specs are refused naming the key, overrides and sweep axes."""

from __future__ import annotations

import numpy as np
import pytest

from lab.config import SpecError
from lab.sweeps import expand, load_spec, spec_from_dict
from tests.helpers import ROOT

SWEEPS = sorted((ROOT / "sweeps").glob("*.toml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_shipped_specs_validate_and_say_what_they_are(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    header = path.read_text().splitlines()[0]
    assert header.startswith("# ") and "CPU" in path.read_text().split("[task]")[0]
    assert sum(g.size for g in expand(spec)) >= 1


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"train": {"lrr": 1.0}}, "unknown key 'train.lrr'; allowed keys in [train]: optimizer, lr,"),
        ({"trainer": {}}, "unknown section 'trainer'; allowed: task, model, train, sweep"),
        ({"train": {"steps": "many"}}, "train.steps must be int, got str 'many'"),
        ({"train": {"steps": 1.5}}, "train.steps must be int"),
        ({"model": {"bias": 1}}, "model.bias must be bool"),
        ({"model": {"activation": "swish"}}, "model.activation = 'swish' is not allowed; choose one of relu"),
        ({"train": {"optimizer": "lion"}}, "train.optimizer = 'lion' is not allowed"),
        ({"sweep": {"train.lr": 0.1}}, "sweep.train.lr must be a non-empty list"),
        ({"sweep": {"train.momentom": [0.1]}}, "unknown key 'train.momentom'"),
        ({"sweep": {"task.train_frac": [0.5, 1.5]}}, "task.train_frac must be in (0, 1] (got 1.5)"),
        ({"train": {"steps": 150, "log_every": 100}}, "train.steps = 150 must be a multiple of train.log_every"),
        ({"task": {"name": "parity"}, "model": {"kind": "transformer"}}, "needs model.kind = 'mlp'"),
        ({"model": {"width": 0, "kind": "mlp"}}, "model.width must be at least 1"),
        ({"train": {"decay": "l1"}}, "train.decay = 'l1' adds wd * sign(w) to the gradient; use train.optimizer"),
        ({"train": {"dtype": "float16"}}, "train.dtype = 'float16' is not allowed; choose one of float32, float64"),
        ({"task": {"name": "parity"}, "model": {"kind": "mlp", "single_logit": True}, "train": {"loss": "mse"}},
         "model.single_logit is trained with the sigmoid cross entropy"),
        ({"model": {"kind": "mlp", "single_logit": True}}, "model.single_logit needs a two-class task"),
        ({"model": {"kind": "mlp", "bias_input": True}}, "model.bias_input is for vector inputs"),
        ({"reference": "nanda_2023"}, "reference = 'nanda_2023' is not known; choose one of pair_modadd"),
        ({"sweep": {"seed_data": True, "task.data_seed": [1, 2]}}, "sweep.seed_data sets task.data_seed"),
    ],
)
def test_bad_specs_are_refused_with_a_message_naming_the_key(raw, message):
    with pytest.raises(SpecError) as err:
        spec_from_dict(raw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_and_sweep_axes(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[task]\np = 11\n[sweep]\nseeds = 2\n"model.width" = [8, 16]\n')
    spec = load_spec(path, ["train.lr=0.01", "sweep.train.weight_decay=[0.0, 1.0]", "model.kind=mlp"])
    assert spec.train.lr == 0.01 and spec.model.kind == "mlp"
    groups = expand(spec)
    assert [g.size for g in groups] == [4, 4]  # width splits the sweep; weight decay x seeds share a program
    assert [g.spec.model.width for g in groups] == [8, 16]
    hp = groups[0].hparams()
    assert np.asarray(hp.weight_decay).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert np.asarray(hp.seed).tolist() == [0, 1, 0, 1]
    with pytest.raises(SpecError, match="must look like key=value"):
        load_spec(path, ["train.lr"])
    with pytest.raises(SpecError, match="no spec file"):
        load_spec(tmp_path / "missing.toml")
