"""lab.references.extract_stablemax: the committed starting point is Prieto et al.'s figure 1 start, in the lab
model's layout, and the lab trains from it as the repository's own script does.

The repository commits no logged numbers, so the numbers below come from running its grokking_experiments.py
unchanged (--lr 0.01 --num_epochs 2 --log_frequency 1 --device cpu --train_fraction 0.4 --loss_function stablemax
--beta2 0.999; torch 2.13, CPU): its metrics.csv rows, each logged after that epoch's step; the split its own
get_dataset drew after torch.manual_seed(42); and its stablemax_cross_entropy of its get_model's untrained MLP.
"""

from __future__ import annotations

import jax
import numpy as np

import lab
from lab import models, references
from lab.references.extract_stablemax import HIDDEN, P, PATHS
from lab.sweeps import load_spec
from tests.helpers import SWEEPS

# the repository's code: train and test StableMax loss at the start, then loss and accuracy after steps 1 and 2
PEER_START = (4.727261985770311, 4.727529841294178)
PEER_AFTER_STEP = {1: (4.718758945764035, 4.731723606675052, 0.01821029931306839, 0.0061341687105596066),
                   2: (4.70615444638929, 4.743010081815809, 0.018014490604400635, 0.005873139947652817)}


def test_the_file_holds_the_splits_rows_and_the_three_weights_in_the_lab_models_layout():
    start = references.arrays("stablemax_start")
    spec = load_spec(SWEEPS / "stablemax.toml")
    drawn = jax.eval_shape(lambda k: models.init(k, spec.model, spec.task), jax.random.key(0))
    shapes = {"/".join(str(k.key) for k in path): w.shape for path, w in jax.tree_util.tree_flatten_with_path(drawn)[0]}
    assert shapes == {path: start[path].shape for path in PATHS}
    rows = start["train_index"]
    assert rows.shape == (int(0.4 * P * P),) and np.unique(rows).size == rows.size
    assert 0 <= rows.min() and rows.max() < P * P
    assert rows[:5].tolist() == [11691, 4308, 4501, 5493, 10945]  # get_dataset's first training rows
    for path, fan_in in zip(PATHS, (2 * P, *HIDDEN)):  # nn.Linear's U(+-1/sqrt(fan_in))
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(start[path]).max() <= bound and abs(start[path].std() * np.sqrt(3) / bound - 1) < 0.02


def test_the_lab_takes_the_repository_scripts_first_two_steps_from_its_start(tmp_path):
    run = lab.sweep(SWEEPS / "stablemax.toml", out=tmp_path / "run", progress=False,
                    set={"train.steps": 2, "train.log_every": 1, "train.checkpoints": 1})
    rows = run.metrics[run.metrics["variant"] == "stablemax"].set_index("step")
    # 3e-6 holds the lab to torch's rounding; Adam's eps at torch's default 1e-8 instead of 1e-25 is 1.3e-5 off by
    # step 2, and a model read in another layout is off by far more
    start = rows.loc[0]
    assert abs(start["train_loss"] - PEER_START[0]) < 3e-6 and abs(start["test_loss"] - PEER_START[1]) < 3e-6
    for step, (train_loss, test_loss, train_acc, test_acc) in PEER_AFTER_STEP.items():
        got = rows.loc[step]
        assert abs(got["train_loss"] - train_loss) < 3e-6 and abs(got["test_loss"] - test_loss) < 3e-6
        assert abs(got["train_acc"] - train_acc) < 1e-6 and abs(got["test_acc"] - test_acc) < 1e-6
