"""Logistic association tables; the fit is checked against R glm (PredictABEL example)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError
from radscore.stats import logistic_multivariate, logistic_table, logistic_univariate


@pytest.fixture(scope="module")
def amd(reference_dir):
    folder = reference_dir / "stats" / "nri_idi_Hmisc"
    d = pd.read_csv(folder / "ExampleData_PredictABEL.csv").rename(columns={"outcome(AMD)": "y"})
    probs = pd.read_csv(folder / "nri_idi_probs.csv")
    return d, probs


@pytest.mark.reference
def test_logistic_fit_reproduces_r_glm_fitted_values(amd):
    # how_computed.R: glm(y ~ columns 3:10, BaselineAMD/Smoking/BMI as factors); the
    # fitted probabilities are p_old in nri_idi_probs.csv (model 2 adds columns 11:16).
    d, probs = amd
    cols = list(d.columns[2:10])
    for c in ["BaselineAMD", "Smoking", "BMI"]:
        d[c] = pd.Categorical(d[c])
    old = logistic_multivariate(d, "y", cols)
    np.testing.assert_allclose(old.model.predict(), probs["p_old"], atol=1e-8)
    new = logistic_multivariate(d, "y", cols + list(d.columns[10:16]))
    np.testing.assert_allclose(new.model.predict(), probs["p_new"], atol=1e-8)
    t = old.table
    assert t.loc[t.covariate == "BaselineAMD", "level"].tolist() == ["1", "2"]
    assert (t["ci_low"] < t["or"]).all() and (t["or"] < t["ci_high"]).all()


def test_table_counts_and_selection():
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=n)
    grp = rng.choice(["A", "B", "C"], n)
    noise = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(1.5 * x + (grp == "C"))))).astype(int)
    df = pd.DataFrame({"y": y, "x": x, "grp": grp, "noise": noise})
    df.loc[0, "x"] = np.nan
    tab = logistic_table(df, "y", ["x", "grp", "noise"], p_threshold=0.05)
    lvl = tab[tab.covariate == "grp"].set_index("level")
    assert lvl.loc["A", "patients"] == (grp == "A").sum() and lvl.loc["C", "events"] == y[grp == "C"].sum()
    assert np.isnan(lvl.loc["A", "or_uni"])  # reference level
    assert tab.loc[tab.covariate == "x", "patients"].item() == n - 1
    uni = logistic_univariate(df, "y", ["noise"])
    if uni["p_value"].item() >= 0.05:
        assert np.isnan(tab.loc[tab.covariate == "noise", "or_multi"].item())
    assert tab.loc[tab.covariate == "x", "or_multi"].item() > 2


def test_separation_is_a_data_error():
    df = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6]})
    with pytest.raises(DataError, match="cannot be fitted|did not converge"):
        logistic_multivariate(df, "y", ["x"])
