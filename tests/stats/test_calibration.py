"""Calibration, Brier and Hosmer-Lemeshow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError
from radscore.stats import brier_score, calibration, hosmer_lemeshow, logistic_multivariate


def _simulate(n, rng, miscalibrate=1.0):
    x = rng.normal(size=n)
    p_true = 1 / (1 + np.exp(-(-0.5 + 1.2 * x)))
    y = (rng.uniform(size=n) < p_true).astype(int)
    p_pred = 1 / (1 + np.exp(-(-0.5 + 1.2 * miscalibrate * x)))
    return y, p_true, p_pred


def test_hl_equals_two_column_pearson_form():
    # ResourceSelection::hoslem.test sums (obs - exp)^2 / exp over the event AND non-event
    # columns; algebraically equal to our one-column form. Checked on independent code.
    rng = np.random.default_rng(0)
    y, p, _ = _simulate(400, rng)
    res = hosmer_lemeshow(y, p, groups=10)
    g = pd.qcut(p, 10, labels=False)
    obs1 = np.bincount(g, weights=y)
    exp1 = np.bincount(g, weights=p)
    n = np.bincount(g)
    chisq = np.sum((obs1 - exp1) ** 2 / exp1) + np.sum(((n - obs1) - (n - exp1)) ** 2 / (n - exp1))
    assert res.statistic == pytest.approx(chisq, rel=1e-12)
    assert res.df == 8 and res.groups == 10
    assert res.table["n"].sum() == 400


def test_hl_type_one_error_and_power():
    # df = g - 2 holds for probabilities fitted on the same data (Hosmer & Lemeshow 1980),
    # so the null simulation refits a correctly specified model each time.
    rng = np.random.default_rng(1)
    p_ok = []
    for _ in range(200):
        x = rng.normal(size=300)
        y = (rng.uniform(size=300) < 1 / (1 + np.exp(-(-0.5 + 1.2 * x)))).astype(int)
        fitted = logistic_multivariate(pd.DataFrame({"x": x, "y": y}), "y", ["x"]).model.predict()
        p_ok.append(hosmer_lemeshow(y, fitted).p_value)
    assert 0.01 <= np.mean(np.array(p_ok) < 0.05) <= 0.10  # nominal 5 %
    y, _, bad = _simulate(2000, rng, miscalibrate=2.5)
    assert hosmer_lemeshow(y, bad).p_value < 1e-3
    assert hosmer_lemeshow(y, bad, groups=5).df == 3


def test_recalibration_of_own_fit_is_ideal():
    # Logistic score equations force slope 1 and calibration-in-the-large 0 on the
    # training data of a logistic model: an exact check of both fits.
    rng = np.random.default_rng(2)
    x = rng.normal(size=500)
    y = (rng.uniform(size=500) < 1 / (1 + np.exp(-x))).astype(int)
    p = logistic_multivariate(pd.DataFrame({"x": x, "y": y}), "y", ["x"]).model.predict()
    r = calibration(y, p)
    assert r.slope == pytest.approx(1.0, abs=1e-6)
    assert r.intercept == pytest.approx(0.0, abs=1e-6)
    assert r.slope_ci_low < 1 < r.slope_ci_high
    assert r.brier == pytest.approx(np.mean((p - y) ** 2)) == pytest.approx(brier_score(y, p))
    assert len(r.binned) == 10 and r.binned["n"].sum() == 500
    assert ((r.binned["ci_low"] <= r.binned["observed"]) & (r.binned["observed"] <= r.binned["ci_high"])).all()
    assert r.smoothed["predicted"].is_monotonic_increasing


def test_overfitted_predictions_have_slope_below_one():
    rng = np.random.default_rng(3)
    y, _, over = _simulate(3000, rng, miscalibrate=2.0)
    r = calibration(y, over)
    assert r.slope == pytest.approx(0.5, abs=0.08)
    assert r.slope_ci_high < 1


def test_calibration_errors():
    with pytest.raises(DataError, match="probabilities"):
        calibration([0, 1, 0], [0.1, 1.5, 0.2])
    with pytest.raises(DataError, match="at least 3 groups"):
        hosmer_lemeshow([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], groups=2)


def test_calibration_bins_of_saturated_predictions():
    # an overfitted model's in-sample probabilities pile up at both ends: the quantile breaks
    # then bound intervals that hold no patient, which must not appear as bins
    p = np.array([0.02, 0.02, 0.3, 0.97, 0.02, 0.02, 0.97, 0.02])  # breaks 0.02 < 0.0956 < 0.3 < 0.97
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    r = calibration(y, p, bins=10)
    assert (r.binned["n"] > 0).all() and r.binned["n"].sum() == y.size


def test_separating_predictions_leave_the_slope_unbounded_not_a_number(recwarn):
    # an apparent (in-sample) AUC of 1: the maximum-likelihood slope does not exist; statsmodels
    # only warns and returns its last iterate, which must not be reported as a slope
    rng = np.random.default_rng(5)
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)
    p = np.r_[rng.uniform(0.05, 0.45, 30), rng.uniform(0.55, 0.95, 30)]
    r = calibration(y, p)
    assert np.isnan(r.slope) and np.isnan(r.slope_ci_low) and np.isnan(r.slope_ci_high)
    assert "separate" in r.note
    assert np.isfinite(r.intercept) and np.isfinite(r.brier) and r.binned["n"].sum() == 60
    assert not [w for w in recwarn if "separation" in str(w.message).lower()]
    mixed = y.copy()
    mixed[[0, 59]] = [1, 0]  # one patient on each wrong side: estimable again
    r = calibration(mixed, p)
    assert np.isfinite(r.slope) and r.note == ""
