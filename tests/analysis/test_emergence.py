"""lab.analysis.emergence: steps at which each skill emerges, and power-law fits (one variable and joint) that
recover planted exponents."""

from __future__ import annotations

import numpy as np


def test_skill_steps_and_the_power_law_fit_on_synthetic_data():
    import pandas as pd
    import pytest

    from lab.analysis.emergence import fit_power_law, skill_steps

    rows = []
    for step in range(0, 1000, 100):  # skill 0 learned at 200, skill 1 at 500, skill 2 never
        rows.append({"model": 0, "step": step, "test_acc_task_0": float(step >= 200),
                     "test_acc_task_1": 0.5 + 0.5 * (step >= 500), "test_acc_task_2": 0.5})
    table = skill_steps(pd.DataFrame(rows))
    assert table.step.tolist()[:2] == [200.0, 500.0] and np.isnan(table.step[2])
    with pytest.raises(ValueError, match="no per-skill columns"):
        skill_steps(pd.DataFrame(rows)[["model", "step"]])

    rng = np.random.default_rng(0)
    x = np.geomspace(1e3, 1e6, 12)
    y = 7.0 * x**-0.34 * np.exp(0.03 * rng.normal(size=x.size))  # 3% multiplicative noise
    fit = fit_power_law(x, y)
    assert abs(fit.exponent - 0.34) < 0.02 and fit.exponent_low < 0.34 < fit.exponent_high
    assert 0 < fit.stderr < 0.02 and abs(fit.prefactor - 7.0) / 7.0 < 0.3
    np.testing.assert_allclose(fit(x), y, rtol=0.1)
    with pytest.raises(ValueError, match="at least 3 positive points"):
        fit_power_law([1, 2], [1, 2])


def test_the_joint_power_law_fit_recovers_every_exponent():
    import pandas as pd
    import pytest

    from lab.analysis.emergence import fit_joint_power_law

    rng = np.random.default_rng(1)
    n, d, s = (np.exp(rng.uniform(np.log(lo), np.log(hi), 300)) for lo, hi in ((1e3, 1e6), (1e3, 1e5), (1e2, 1e4)))
    loss = 40.0 * n**-0.3 * d**-0.15 * s**-0.5 * np.exp(0.05 * rng.normal(size=300))
    table = pd.DataFrame({"params": n, "n_train": d, "step": s, "test_loss": loss})
    fit = fit_joint_power_law(table, ["params", "n_train", "step"], "test_loss", n_boot=300)
    for got, want, low, high in zip(fit.exponents, (0.3, 0.15, 0.5), fit.exponents_low, fit.exponents_high):
        assert abs(got - want) < 0.02 and low < want < high
    assert fit.r2 > 0.95 and abs(np.log(fit.prefactor / 40.0)) < 0.3
    np.testing.assert_allclose(fit(table[["params", "n_train", "step"]]), loss, rtol=0.2)
    assert "params: exponent 0.3" in fit.describe()
    with pytest.raises(ValueError, match="does not vary|do\\(es\\) not vary"):
        fit_joint_power_law(table.assign(n_train=5.0), ["params", "n_train"], "test_loss")
    with pytest.raises(ValueError, match="no column"):
        fit_joint_power_law(table, ["width"], "test_loss")
