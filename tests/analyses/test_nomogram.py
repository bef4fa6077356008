import numpy as np
import pandas as pd
import pytest

from radscore.analyses._nomogram_draw import nomogram_scales, survival_at_points
from radscore.analyses.nomogram import compute, encode, lasso_screen


def test_scales_hand_case():
    coef = pd.Series({"a": 1.0, "b": -0.5})
    ranges = pd.DataFrame({"low": [0.0, 0.0], "high": [2.0, 2.0]}, index=["a", "b"])
    sc = nomogram_scales(coef, ranges)
    # a spans 2 lp units -> 100 points; b spans 1 lp unit -> 50 points, highest at b = 0
    assert sc.points_per_unit == 50.0
    assert sc.points("a", 2.0) == pytest.approx(100.0)
    assert sc.points("b", [0.0, 2.0]).tolist() == pytest.approx([50.0, 0.0])
    assert sc.lp_at_zero_points == pytest.approx(-1.0)
    assert sc.max_total == pytest.approx(150.0)
    X = pd.DataFrame({"a": [1.0], "b": [1.0]})
    tp = sc.total_points(X)
    assert tp[0] == pytest.approx(75.0)
    assert sc.linear_predictor(tp)[0] == pytest.approx(1.0 - 0.5)
    # S = s0 ** exp(lp - lp_mean): lp 0.5, mean 0.5 -> s0
    assert survival_at_points(sc, tp, 0.8, 0.5)[0] == pytest.approx(0.8)
    assert survival_at_points(sc, tp, 0.8, 0.5 - np.log(2))[0] == pytest.approx(0.64)


def test_encode_indicators():
    df = pd.DataFrame({"sex": ["F", "M", None], "age": [50, 60, 70]})
    e = encode(df, ["sex", "age"])
    assert list(e.columns) == ["sex=M", "age"]
    assert e["sex=M"].iloc[:2].tolist() == [0.0, 1.0] and np.isnan(e["sex=M"].iloc[2])


def test_lasso_screen_keeps_the_prognostic_variable():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["signal", "n1", "n2", "n3"])
    t = rng.exponential(np.exp(-1.2 * X["signal"]))
    e = np.ones(n, int)
    kept = lasso_screen(X, t, e, seed=0)
    assert "signal" in kept
    assert len(kept) < 4


def test_nomograms_on_demo(demo_ctx):
    secs = {s.key: s for s in compute(demo_ctx).sections()}
    for k in ("nomogram_os", "nomogram_pfs"):
        s = secs[k]
        assert s.skipped is None, s.skipped
        cox = s.tables["cox"].set_index("covariate")
        assert cox.loc["radscore", "hr"] > 1  # planted: high Radscore = immune-cold = worse
        assert {"time_dependent_auc", "calibration", "decision_curve"} <= set(s.tables)
        assert {"nomogram", "calibration", "decision_curve", "km_risk_group"} <= set(s.figures)
    serum = secs["serum_markers"].tables["auc"].set_index("analysis")["auc"]
    assert serum["Radscore"] > serum["cea"]


def test_nomogram_is_evaluated_in_every_cohort_outside_training_with_pet_candidates(demo_ctx):
    """An external cohort gets its own evaluation (keys named after it) and a conventional PET
    measure named as a candidate is taken from the feature table."""
    import dataclasses

    from radscore.config import NomogramSettings

    scores = demo_ctx.scores.copy()
    testing = sorted(scores.loc[scores["cohort"] == "testing", "patient_id"].unique())
    scores.loc[scores["patient_id"].isin(testing[::2]), "cohort"] = "external_a"
    feats = demo_ctx.features.copy()
    rng = np.random.default_rng(0)
    feats["pet_conventional_SUVmax"] = rng.lognormal(1.5, 0.3, len(feats))
    settings = demo_ctx.settings.model_copy(update={"nomogram": NomogramSettings(
        candidates=["age", "sex", "pet_conventional_SUVmax"])})
    ctx = dataclasses.replace(demo_ctx, scores=scores, features=feats, settings=settings)
    res = compute(ctx)
    assert set(res.os.tests) == {"testing", "external_a"}
    assert "pet_conventional_SUVmax" in res.os.candidates
    sec = res.os.section()
    assert {"time_dependent_auc", "time_dependent_auc_external_a", "decision_curve_external_a"} <= set(sec.tables)
    td = sec.tables["time_dependent_auc_external_a"].iloc[0]
    assert td["ci_low"] < td["auc"] < td["ci_high"]
    n_ext = len(set(testing[::2]))
    assert res.os.tests["external_a"].decision_curve.n <= n_ext
