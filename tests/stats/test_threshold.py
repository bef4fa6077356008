"""Threshold metrics with CIs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, matthews_corrcoef

from radscore.stats import threshold_metrics


def test_counts_and_point_estimates_against_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = y + rng.normal(scale=0.8, size=200)
    r = threshold_metrics(y, s, cutoff=0.5, n_boot=500, random_state=0)
    pred = (s >= 0.5).astype(int)
    assert r.tp + r.fn == y.sum() and r.tp + r.fp == pred.sum()
    assert r["sensitivity"] == pytest.approx(r.tp / (r.tp + r.fn))
    assert r["recall"] == r["sensitivity"]
    assert r["specificity"] == pytest.approx(r.tn / (r.tn + r.fp))
    assert r["ppv"] == pytest.approx(r.tp / (r.tp + r.fp))
    assert r["npv"] == pytest.approx(r.tn / (r.tn + r.fn))
    assert r["accuracy"] == pytest.approx(np.mean(pred == y))
    assert r["f1"] == pytest.approx(f1_score(y, pred))
    assert r["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    assert r["kappa"] == pytest.approx(cohen_kappa_score(y, pred))
    t = r.table.set_index("metric")
    assert (t["ci_low"] <= t["estimate"]).all() and (t["estimate"] <= t["ci_high"]).all()
    assert r == threshold_metrics(y, s, cutoff=0.5, n_boot=500, random_state=0)


def test_wilson_interval_matches_newcombe_1998():
    # Newcombe RG, Stat Med 1998;17:857-872, Table I example 81/263: Wilson 0.2553-0.3662.
    y = np.r_[np.ones(263, int), np.zeros(10, int)]
    s = np.r_[np.ones(81), np.zeros(182), np.zeros(10)]
    t = threshold_metrics(y, s, cutoff=0.5, n_boot=0).table.set_index("metric")
    assert t.loc["sensitivity", "estimate"] == pytest.approx(81 / 263)
    assert round(t.loc["sensitivity", "ci_low"], 4) == 0.2553
    assert round(t.loc["sensitivity", "ci_high"], 4) == 0.3662
    assert t.loc["ppv", "ci_method"] == "wilson" and t.loc["mcc", "ci_method"] == "none (n_boot=0)"


def test_no_positive_prediction_gives_undefined_ppv():
    r = threshold_metrics([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], cutoff=0.9, n_boot=100, random_state=0)
    t = r.table.set_index("metric")
    assert np.isnan(t.loc["ppv", "estimate"]) and t.loc["ppv", "ci_method"].startswith("undefined")
    assert t.loc["specificity", "estimate"] == 1.0
