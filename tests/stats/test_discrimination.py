"""ROC AUC / DeLong against R pROC on its aSAH data (reference/stats/delong_pROC_aSAH)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError
from radscore.stats import delong_test, pr_curve, roc_auc_ci

TOL = 1e-6


@pytest.fixture(scope="module")
def asah(reference_dir):
    folder = reference_dir / "stats" / "delong_pROC_aSAH"
    data = pd.read_csv(folder / "aSAH.csv")
    expected = json.loads((folder / "expected.json").read_text())
    y = (data["outcome"] == "Poor").astype(int).to_numpy()
    return data, y, expected


@pytest.mark.reference
@pytest.mark.parametrize("marker", ["wfns", "ndka", "s100b"])
def test_auc_and_delong_variance_match_pROC(asah, marker):
    data, y, exp = asah
    res = roc_auc_ci(y, data[marker])
    if marker in exp["auc"]:
        assert res.auc == pytest.approx(exp["auc"][marker], abs=TOL)
    else:  # s100b is only printed to 4 decimals in pROC's print output
        assert round(res.auc, 4) == exp["auc"]["s100b_printed"]
    assert res.se**2 == pytest.approx(exp["delong_var"][marker], rel=TOL)
    assert res.n == 113 and res.n_pos == 41


@pytest.mark.reference
def test_delong_ci_matches_pROC(asah):
    data, y, exp = asah
    lo, auc, hi = exp["ci_auc_delong_95"]["ndka"]
    res = roc_auc_ci(y, data["ndka"])
    assert (res.ci_low, res.auc, res.ci_high) == pytest.approx((lo, auc, hi), abs=TOL)
    female = (data["gender"] == "Female").to_numpy()
    lo, auc, hi = exp["ci_auc_delong_95"]["ndka_female_subset"]
    res = roc_auc_ci(y[female], data.loc[female, "ndka"])
    assert (res.ci_low, res.auc, res.ci_high) == pytest.approx((lo, auc, hi), abs=1e-9)  # printed to 10 decimals


@pytest.mark.reference
@pytest.mark.parametrize("pair", ["wfns_vs_s100b", "wfns_vs_ndka", "ndka_vs_s100b"])
def test_paired_delong_test_matches_pROC(asah, pair):
    data, y, exp = asah
    a, b = pair.split("_vs_")
    res = delong_test(y, data[a], data[b])
    e = exp["roc_test_delong_paired"][pair]
    assert res.z == pytest.approx(e["Z"], rel=TOL)
    assert res.p_value == pytest.approx(e["p"], rel=TOL)
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(e["diff_ci95"]), abs=TOL)
    key = {"wfns_vs_ndka": "wfns_ndka", "ndka_vs_s100b": "ndka_s100b", "wfns_vs_s100b": "s100b_wfns"}[pair]
    assert res.cov == pytest.approx(exp["delong_cov"][key], rel=TOL)


def test_auc_equals_mann_whitney_and_sklearn():
    from scipy.stats import mannwhitneyu
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    s = np.round(rng.normal(size=80) + y, 1)  # rounded: ties
    res = roc_auc_ci(y, s)
    assert res.auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert res.auc == pytest.approx(u / (y.sum() * (80 - y.sum())), abs=1e-12)
    assert res.ci_low < res.auc < res.ci_high


def test_bootstrap_is_seeded_and_close_to_delong():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 100)
    s = rng.normal(size=200) + 0.8 * y
    a = roc_auc_ci(y, s, method="bootstrap", n_boot=500, random_state=3)
    b = roc_auc_ci(y, s, method="bootstrap", n_boot=500, random_state=3)
    d = roc_auc_ci(y, s)
    assert a == b
    assert a.se == pytest.approx(d.se, rel=0.25)
    assert a.ci_low == pytest.approx(d.ci_low, abs=0.03)


def test_pr_curve_permutation_p_value():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], [70, 30])
    strong = pr_curve(y, y + rng.normal(scale=0.5, size=100), n_perm=200, random_state=0)
    noise = pr_curve(y, rng.normal(size=100), n_perm=200, random_state=0)
    assert strong.p_value < 0.01 < noise.p_value
    assert strong.prevalence == 0.3
    assert set(strong.curve.columns) == {"threshold", "precision", "recall"}



def test_batched_average_precision_equals_scikit_learn_with_ties_and_weights():
    from sklearn.metrics import average_precision_score

    from radscore.stats.precision_recall import average_precision_batch

    rng = np.random.default_rng(5)
    s = np.round(rng.normal(size=60), 1)  # many ties
    labels = rng.integers(0, 2, size=(25, 60))
    labels[:, 0], labels[:, 1] = 0, 1
    weights = rng.integers(0, 4, size=(25, 60)).astype(float)
    weights[:, :2] += 1
    got = average_precision_batch(s, labels, weights)
    want = [average_precision_score(labels[b], s, sample_weight=weights[b]) for b in range(25)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(average_precision_batch(s, labels),
                               [average_precision_score(labels[b], s) for b in range(25)], rtol=1e-12)


def test_pr_auc_bootstrap_interval_covers_the_truth():
    # AP of a binormal score with a known population value (computed once on 200 000 cases):
    # the 95 % interval from 120 cases covers it in about 95 % of repeated studies.
    rng = np.random.default_rng(11)
    big_y = rng.random(200_000) < 0.3
    from sklearn.metrics import average_precision_score

    truth = average_precision_score(big_y, big_y + rng.normal(size=big_y.size))
    covered = 0
    for k in range(60):
        y = (rng.random(120) < 0.3).astype(int)
        y[:2] = [0, 1]
        r = pr_curve(y, y + rng.normal(size=120), n_perm=0, n_boot=500, random_state=k)
        assert r.ci_low <= r.average_precision <= r.ci_high
        covered += r.ci_low <= truth <= r.ci_high
    assert covered >= 50  # 60 x 0.95 = 57; binomial 1st percentile is 53, bootstrap slightly narrow


@pytest.mark.parametrize(
    "y, s, msg",
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "only one class"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "0/1"),
        ([0, 1, 0], [0.1, 0.2], "has 2 values"),
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.2], "missing"),
    ],
)
def test_bad_input_raises_data_error(y, s, msg):
    with pytest.raises(DataError, match=msg):
        roc_auc_ci(y, s)


@pytest.mark.reference
@pytest.mark.parametrize("pair", ["wfns_vs_s100b", "wfns_vs_ndka", "ndka_vs_s100b"])
def test_unpaired_delong_matches_pROC(asah, pair):
    from radscore.stats import delong_unpaired_test

    data, y, exp = asah
    a, b = pair.split("_vs_")
    e = exp["roc_test_delong_unpaired"][pair]
    res = delong_unpaired_test(y, data[a], y, data[b])
    assert res.statistic == pytest.approx(e["D"], rel=TOL)
    assert res.p_value == pytest.approx(e["p"], rel=TOL)
    if "p_greater" in e:
        assert delong_unpaired_test(y, data[a], y, data[b], alternative="greater").p_value == pytest.approx(
            e["p_greater"], rel=TOL)
        assert delong_unpaired_test(y, data[a], y, data[b], alternative="less").p_value == pytest.approx(
            e["p_less"], rel=TOL)


@pytest.mark.reference
def test_one_sided_paired_delong_matches_pROC(asah):
    data, y, exp = asah
    e = exp["roc_test_delong_paired"]["wfns_vs_s100b"]
    assert delong_test(y, data["wfns"], data["s100b"], alternative="greater").p_value == pytest.approx(
        e["p_greater"], rel=TOL)
    assert delong_test(y, data["wfns"], data["s100b"], alternative="less").p_value == pytest.approx(
        e["p_less"], rel=TOL)
