"""Survival functions against R survival 3.5.3 on survival::lung (reference/stats/survival_R_lung)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError
from radscore.stats import (
    cox_multivariate,
    cox_stepwise,
    cox_table,
    cox_univariate,
    harrell_c,
    kaplan_meier,
    logrank_test,
    survival_calibration,
    time_dependent_auc,
)

REL = 1e-6


@pytest.fixture(scope="module")
def lung(reference_dir):
    folder = reference_dir / "stats" / "survival_R_lung"
    return pd.read_csv(folder / "lung.csv"), json.loads((folder / "expected.json").read_text())


@pytest.mark.reference
def test_logrank_two_groups(lung):
    d, exp = lung
    r = logrank_test(d["time"], d["status01"], d["sex"])
    e = exp["logrank_by_sex"]
    assert r.statistic == pytest.approx(e["chisq"], rel=REL)
    assert r.df == e["df"]
    assert r.p_value == pytest.approx(e["p"], rel=REL)


@pytest.mark.reference
def test_logrank_three_groups(lung):
    d, exp = lung
    s = d[d["ph.ecog"].notna() & (d["ph.ecog"] < 3)]
    r = logrank_test(s["time"], s["status01"], s["ph.ecog"])
    e = exp["logrank_by_ph_ecog_0_1_2"]
    assert r.statistic == pytest.approx(e["chisq"], rel=REL)
    assert r.df == e["df"] == 2
    assert r.p_value == pytest.approx(e["p"], rel=REL)


@pytest.mark.reference
def test_cox_efron_matches_coxph(lung):
    d, exp = lung
    e = exp["cox_age_sex_ph_ecog_efron_complete_cases_n227"]
    r = cox_multivariate(d, "time", "status01", ["age", "sex", "ph.ecog"])
    assert r.n == 227
    tab = r.table.set_index("covariate")
    for cov in ["age", "sex", "ph.ecog"]:
        # R prints 7-9 significant digits: compare at that precision.
        assert tab.loc[cov, "coef"] == pytest.approx(e["coef"][cov], rel=1e-6)
        assert tab.loc[cov, "se"] == pytest.approx(e["se"][cov], rel=1e-6)
        assert tab.loc[cov, "hr"] == pytest.approx(e["hr"][cov], rel=1e-6)
        assert tab.loc[cov, "ci_low"] == pytest.approx(e["hr_lower95"][cov], rel=1e-6)
        assert tab.loc[cov, "ci_high"] == pytest.approx(e["hr_upper95"][cov], rel=1e-6)
        assert tab.loc[cov, "p_value"] == pytest.approx(e["p"][cov], rel=1e-6)
    assert r.concordance == pytest.approx(e["concordance"], rel=REL)
    assert 0 <= r.ph_global_p <= 1
    assert not tab["separated"].any()  # a finite maximum: R gives no "coefficient may be infinite"


@pytest.mark.reference
def test_km_medians_with_ci(lung):
    d, exp = lung
    km = kaplan_meier(d["time"], d["status01"], d["sex"])
    med = km.medians.set_index("group")
    for g in (1, 2):
        e = exp["km_median_by_sex"][str(g)]
        assert (med.loc[g, "median"], med.loc[g, "ci_low"], med.loc[g, "ci_high"]) == (
            e["median"], e["lcl95"], e["ucl95"])
    assert med["n"].tolist() == [138, 90]


@pytest.mark.reference
def test_km_survival_and_greenwood_se(lung):
    d, exp = lung
    e = exp["km_all"]
    s = kaplan_meier(d["time"], d["status01"]).survival_at([180, 365])
    assert s["survival"].tolist() == pytest.approx([e["S_180"], e["S_365"]], rel=REL)
    assert s["se"].iloc[1] == pytest.approx(e["se_365"], rel=REL)


@pytest.mark.reference
def test_cox_stepwise_and_table(lung):
    d, _ = lung
    d = d.assign(sex_label=d["sex"].map({1: "male", 2: "female"}))
    covs = ["age", "sex_label", "ph.ecog", "meal.cal"]
    res = cox_stepwise(d, "time", "status01", covs)
    uni = res.univariate.set_index("covariate")
    assert set(res.selected) == {c for c in covs if uni.loc[c, "p_value"] < 0.05}
    assert "meal.cal" not in res.selected
    table = cox_table(d, "time", "status01", covs)
    female = table[(table.covariate == "sex_label") & (table.level == "female")].iloc[0]
    assert female["patients"] == 90 and female["events"] == 53
    male = table[(table.covariate == "sex_label") & (table.level == "male")].iloc[0]
    assert male["hr_uni"] > 1  # reference is 'female'; men die sooner in lung
    one = cox_univariate(d, "time", "status01", ["age"])
    assert one.loc[0, "n"] == 228


def test_harrell_c_direction_and_seed():
    rng = np.random.default_rng(0)
    risk = rng.normal(size=150)
    t = rng.exponential(np.exp(-risk))
    e = (rng.uniform(size=150) < 0.8).astype(int)
    a = harrell_c(t, e, risk, n_boot=200, random_state=1)
    assert a.c_index > 0.6 and a.ci_low < a.c_index < a.ci_high
    assert a == harrell_c(t, e, risk, n_boot=200, random_state=1)
    assert harrell_c(t, e, -risk, n_boot=0).c_index == pytest.approx(1 - a.c_index, abs=1e-9)


def test_time_dependent_auc_and_calibration():
    rng = np.random.default_rng(3)
    risk = rng.normal(size=300)
    t = rng.exponential(10 * np.exp(-risk))
    c = rng.exponential(20, 300)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    r = time_dependent_auc(time, event, risk, [2, 5])
    assert (r.table["auc"] > 0.65).all() and r.table["cases"].tolist()[0] < r.table["cases"].tolist()[1]
    noise = time_dependent_auc(time, event, rng.normal(size=300), [2, 5])
    assert (noise.table["auc"] < 0.62).all()
    with pytest.raises(DataError, match="outside the follow-up"):
        time_dependent_auc(time, event, risk, [time.max() + 1])
    # True S(5 | risk) = exp(-5 / (10 exp(-risk))): a calibrated prediction.
    pred = np.exp(-5 / (10 * np.exp(-risk)))
    cal = survival_calibration(time, event, pred, horizon=5, groups=4)
    assert cal.ici < 0.08
    bad = survival_calibration(time, event, np.clip(pred + 0.3, 0, 1), horizon=5, groups=4)
    assert bad.ici > cal.ici + 0.15


def test_time_dependent_auc_with_test_follow_up_beyond_the_training_one():
    # scikit-survival refused this ("time must be smaller than largest observed time point"):
    # a testing patient followed longer than anyone in training; also refused: a testing time
    # at the training maximum when that is censored (the censoring survival is 0 there). At a
    # horizon inside both follow-ups he is a control either way: the AUC is the one with his
    # time anywhere after the horizon.
    rng = np.random.default_rng(7)
    risk = rng.normal(size=200)
    t = rng.exponential(10 * np.exp(-risk))
    c = rng.exponential(20, 200)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    train, test = slice(0, 120), slice(120, 200)
    longer = time[test].copy()
    longest = int(np.argmax(longer))
    longer[longest] = time[train].max() + 50.0
    cut = longer.copy()
    cut[longest] = 3.5  # just after the horizon
    event[train][np.argmax(time[train])] = 0  # the last training time is censored
    a = time_dependent_auc(longer, event[test], risk[test], [3], train_time=time[train], train_event=event[train])
    b = time_dependent_auc(cut, event[test], risk[test], [3], train_time=time[train], train_event=event[train])
    assert a.table["auc"].iloc[0] == b.table["auc"].iloc[0] > 0.6


def test_survival_input_errors():
    with pytest.raises(DataError, match="no events"):
        kaplan_meier([1, 2, 3], [0, 0, 0])
    with pytest.raises(DataError, match="two groups"):
        logrank_test([1, 2, 3], [1, 0, 1], ["a", "a", "a"])
    with pytest.raises(DataError, match="negative"):
        kaplan_meier([-1, 2, 3], [1, 0, 1])
    with pytest.raises(DataError, match="not in the table"):
        cox_multivariate(pd.DataFrame({"t": [1, 2], "e": [1, 0]}), "t", "e", ["age"])


@pytest.mark.reference
def test_harrell_c_of_cox_predictor_matches_R_concordance(lung):
    d, exp = lung
    r = cox_multivariate(d, "time", "status01", ["age", "sex", "ph.ecog"])
    dd = d.dropna(subset=["age", "sex", "ph.ecog"])
    lp = r.model.predict_log_partial_hazard(dd[["age", "sex", "ph.ecog"]])
    c = harrell_c(dd["time"], dd["status01"], lp, n_boot=0)
    assert c.c_index == pytest.approx(exp["cox_age_sex_ph_ecog_efron_complete_cases_n227"]["concordance"], rel=REL)


def test_default_risk_times_are_round():
    km = kaplan_meier([3.0, 17.0, 40.0, 95.5], [1, 0, 1, 1])
    assert km.at_risk["time"].tolist() == [0, 20, 40, 60, 80]
    assert km.at_risk["n_at_risk"].tolist() == [4, 2, 2, 1, 1]  # at risk: time >= t


def test_cox_predictions_feed_calibration():
    rng = np.random.default_rng(5)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n), "arm": rng.choice(["a", "b"], n)})
    lp = 0.8 * df["x"] + 0.5 * (df["arm"] == "b")
    t = rng.exponential(10 * np.exp(-lp))
    c = rng.exponential(25, n)
    df["time"], df["event"] = np.minimum(t, c), (t <= c).astype(int)
    res = cox_multivariate(df, "time", "event", ["x", "arm"])
    risk = res.predict_risk(df)
    assert np.corrcoef(risk, lp)[0, 1] > 0.99
    s5 = res.predict_survival(df.iloc[:50], 5.0)
    assert s5.shape == (50,) and ((0 < s5) & (s5 < 1)).all()
    assert harrell_c(df["time"], df["event"], risk, n_boot=0).c_index == pytest.approx(res.concordance, abs=1e-9)
    cal = survival_calibration(df["time"], df["event"], res.predict_survival(df, 5.0), horizon=5, groups=5)
    assert cal.ici < 0.06


@pytest.mark.reference
def test_separated_term_is_flagged_not_reported_as_an_hr(lung, caplog):
    # An indicator of the event itself: every death has the largest value in its risk set,
    # the partial likelihood rises without bound (R coxph: "Loglik converged before variable
    # 1; coefficient may be infinite"). lifelines stops at coef ~20 with CI (0, inf).
    d, _ = lung
    d = d.assign(died=d["status01"].astype(float))
    with np.errstate(over="raise"):  # the CI's overflow is expected, not a numpy warning
        r = cox_multivariate(d, "time", "status01", ["died", "age"])
    tab = r.table.set_index("covariate")
    assert bool(tab.loc["died", "separated"]) and not bool(tab.loc["age", "separated"])
    assert tab.loc["died", "ci_high"] == np.inf
    assert "separation" in caplog.text and "died" in caplog.text
    step = cox_stepwise(d, "time", "status01", ["died", "age"])
    assert step.summary.set_index("covariate").loc["died", "separated_uni"]


def test_time_dependent_auc_bootstrap_interval_covers_the_truth():
    """Over repeated simulated cohorts the 95 % bootstrap interval covers the AUC of a large
    cohort from the same model (the population value) about 95 % of the time."""
    def cohort(rng, n):
        risk = rng.normal(size=n)
        t = rng.exponential(10 * np.exp(-risk))
        c = rng.exponential(20, n)
        return np.minimum(t, c), (t <= c).astype(int), risk

    rng = np.random.default_rng(11)
    truth = time_dependent_auc(*cohort(rng, 20000), [4]).table["auc"].iloc[0]
    covered = []
    for _ in range(30):
        r = time_dependent_auc(*cohort(rng, 120), [4], n_boot=100, random_state=1).table.iloc[0]
        assert r["ci_low"] < r["auc"] < r["ci_high"] and r["boot_used"] == 100
        covered.append(r["ci_low"] <= truth <= r["ci_high"])
    assert 0.8 <= np.mean(covered) <= 1.0
    t, e, risk = cohort(np.random.default_rng(2), 100)
    a = time_dependent_auc(t, e, risk, [4], n_boot=50, random_state=5).table
    assert a.equals(time_dependent_auc(t, e, risk, [4], n_boot=50, random_state=5).table)


def test_cox_univariate_names_the_covariates_whose_hazards_are_not_proportional_in_one_warning(caplog):
    """Crossing hazards (group 1 dies early or survives long, group 0 in between) break the
    proportional-hazards assumption for ``crossing`` only: one warning names it, not ``noise``."""
    rng = np.random.default_rng(3)
    n = 300
    crossing = rng.integers(0, 2, n)
    early = rng.random(n) < 0.5
    time = np.where(crossing == 1, np.where(early, rng.exponential(1.0, n), rng.exponential(30.0, n)),
                    rng.exponential(6.0, n))
    d = pd.DataFrame({"time": time, "event": 1, "crossing": crossing, "noise": rng.normal(size=n)})
    with caplog.at_level("WARNING", logger="radscore.stats.cox"):
        table = cox_univariate(d, "time", "event", ["crossing", "noise"])
    ph = dict(zip(table["covariate"], table["ph_p_value"]))
    assert ph["crossing"] < 0.05 <= ph["noise"]
    warned = [r.getMessage() for r in caplog.records if "proportional hazards" in r.getMessage()]
    assert len(warned) == 1 and "crossing" in warned[0] and "noise" not in warned[0], warned
    caplog.clear()
    with caplog.at_level("WARNING", logger="radscore.stats.cox"):
        cox_univariate(d, "time", "event", ["crossing", "noise"], warn_ph=False)
    assert not [r for r in caplog.records if "proportional hazards" in r.getMessage()]
