"""Net benefit against R/Python dcurves on df_binary (reference/stats/decision_curve_dcurves)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError
from radscore.stats import logistic_multivariate, net_benefit


@pytest.fixture(scope="module")
def dca(reference_dir):
    folder = reference_dir / "stats" / "decision_curve_dcurves"
    data = pd.read_csv(folder / "df_binary.csv")
    data["cancer"] = data["cancer"].astype(str).str.upper().map({"TRUE": 1, "FALSE": 0})
    return folder, data, json.loads((folder / "expected.json").read_text())


def _check(table, exp, model_name, tol):
    row = table.iloc[0]
    got = {"all": row["all"], "none": row["none"], model_name: row["model"]}
    for name, value in zip(exp["order"], exp["net_benefit"]):
        assert got[name] == pytest.approx(value, abs=tol), name


@pytest.mark.reference
def test_cancerpredmarker_at_025(dca):
    _, d, exp = dca
    e = exp["r_dcurves_test_dca_R"]["binary_cancerpredmarker_threshold_0.25"]
    _check(net_benefit(d["cancer"], d["cancerpredmarker"], [0.25]).table, e, "cancerpredmarker", e["tolerance"])


@pytest.mark.reference
def test_famhistory_at_0_is_strict(dca):
    _, d, exp = dca
    e = exp["r_dcurves_test_dca_R"]["binary_famhistory_threshold_0"]
    # R prints these to the digits shown (exact fractions of 750): 1e-7.
    _check(net_benefit(d["cancer"], d["famhistory"], [0.0]).table, e, "famhistory", 1e-7)


@pytest.mark.reference
def test_age_as_probability_at_025(dca):
    _, d, exp = dca
    e = exp["r_dcurves_test_dca_R"]["binary_age_as_probability_threshold_0.25"]
    risk = logistic_multivariate(d, "cancer", ["age"]).model.predict()
    _check(net_benefit(d["cancer"], risk, [0.25]).table, e, "age", 1e-7)  # printed to 8 decimals


@pytest.mark.reference
def test_whole_famhistory_curve_matches_r_case1(dca):
    folder, d, _ = dca
    ref = pd.read_csv(folder / "r_case1_results.csv")
    thresholds = np.round(np.arange(100) / 100, 2)
    res = net_benefit(d["cancer"], {"famhistory": d["famhistory"]}, thresholds).table
    for variable, column in [("all", "all"), ("none", "none"), ("famhistory", "famhistory")]:
        r = ref[ref["variable"] == variable].sort_values("threshold")
        np.testing.assert_allclose(r["threshold"], thresholds, atol=1e-12)
        np.testing.assert_allclose(res[column], r["net_benefit"], atol=1e-6)  # dcurves' own test tolerance
    avoided = ref[ref["variable"] == "famhistory"]["net_intervention_avoided"].to_numpy()[1:]
    np.testing.assert_allclose(res["famhistory_interventions_avoided"].to_numpy()[1:] / 100, avoided, atol=1e-6)


def test_hand_computed_small_case():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    t = net_benefit(y, p, [0.5]).table.iloc[0]
    # positives > 0.5: patients 1 (TP) and 3 (FP): 1/5 - 1/5 * 1 = 0; all: 2/5 - 3/5 = -0.2
    assert t["model"] == pytest.approx(0.0) and t["all"] == pytest.approx(-0.2) and t["none"] == 0


def test_bad_thresholds():
    with pytest.raises(DataError, match=r"\[0, 1\)"):
        net_benefit([0, 1], [0.2, 0.8], [1.0])
    with pytest.raises(DataError, match="probabilities"):
        net_benefit([0, 1], [-2.0, 3.0], [0.5])
