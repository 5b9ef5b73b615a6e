"""lab.references.extract_power_grok: the committed order is openai/grok's one shuffled list of x/y mod 97, as lab
rows, and a split from it trains on the list's first round(N * pct / 100) equations at every fraction."""

from __future__ import annotations

import numpy as np

from lab import references
from lab.references.extract_power_grok import repository_order
from lab.sweeps import load_spec
from lab.tasks import all_pairs, make_data, n_train_max
from tests.helpers import SWEEPS, key_of

# the first five equations of the repository's make_data("/") (grok/data.py, run once), as (a, b, c) of "a / b = c"
REPOSITORY_FIRST = [(77, 47, 78), (11, 23, 30), (18, 3, 6), (62, 82, 67), (92, 25, 58)]


def test_the_file_is_the_repositorys_shuffled_list_in_lab_rows():
    order = references.arrays("power_grok_split")["order"]
    assert np.array_equal(order, repository_order()) and np.array_equal(np.sort(order), np.arange(97 * 96))
    spec = load_spec(SWEEPS / "power_grok.toml")
    ab, y = all_pairs(spec.task)
    assert [(int(a), int(b), int(c)) for (a, b), c in zip(ab[order[:5]], y[order[:5]])] == REPOSITORY_FIRST


def test_each_fraction_trains_on_the_lists_first_round_n_pct_equations():
    spec = load_spec(SWEEPS / "power_grok.toml")
    order = references.arrays("power_grok_split")["order"]
    ab, _ = all_pairs(spec.task)
    for frac, n in ((0.4, 3725), (0.5, 4656), (0.6, 5587)):  # round(9312 * pct / 100), grok/data.py L169
        d = make_data(spec.task, key_of(0), frac, n_train_max(spec.task, 0.6), True)
        assert int(d.w_train.sum()) == n
        assert np.array_equal(np.asarray(d.x_train)[:n, [1, 3]], ab[order[:n]])  # <eos> a op b = : tokens 1 and 3
