"""Net benefit against R/Python dcurves: binary on df_binary (reference/stats/decision_curve_dcurves),
survival against Python dcurves' survival mode on a censored simulation."""

from __future__ import annotations

import json

import dcurves
import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError
from radscore.stats import logistic_multivariate, net_benefit, survival_net_benefit


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


# ---------------------------------------------------------------- survival (censored) decision curve

HORIZON = 12.0
SURV_THRESHOLDS = np.round(np.arange(0, 1, 0.02), 2)


@pytest.fixture(scope="module")
def censored():
    """300 patients: exponential event times, uniform censoring, times rounded up to whole
    months (many ties, events and censorings at the same time); about 30% censored before
    the 12-month horizon. Three risks of an event by 12 months: a noisy true risk ("cox"),
    one highest for the earliest times so that at high thresholds every test-positive
    patient leaves before the horizon (NaN), and a coarse one with tied values and no
    patient above 0.605 (no test-positive patient: 0)."""
    rng = np.random.default_rng(11)
    n = 300
    x = rng.normal(size=n)
    t_event = rng.exponential(20 * np.exp(-0.8 * x))
    t_cens = rng.uniform(0, 28, n)
    t = np.ceil(np.minimum(t_event, t_cens))
    e = (t_event <= t_cens).astype(int)
    cox = 1 - np.exp(-HORIZON / 20 * np.exp(0.8 * x + rng.normal(0, 0.3, n)))
    early = np.clip(1 - t / t.max() + rng.normal(0, 0.02, n), 0.001, 0.999)
    coarse = np.minimum(np.round(cox, 1), 0.6) + 0.005
    return pd.DataFrame({"t": t, "e": e, "cox": cox, "early": early, "coarse": coarse})


def test_censored_case_is_what_it_claims(censored):
    d = censored
    censored_early = ((d["e"] == 0) & (d["t"] < HORIZON)).mean()
    assert 0.25 < censored_early < 0.35
    assert d["t"].duplicated().sum() > 200
    # no risk equals a threshold, where dcurves' ">=" and our ">" would differ
    assert not np.isin(d[["cox", "early", "coarse"]].to_numpy(), SURV_THRESHOLDS).any()


def test_survival_net_benefit_equals_dcurves(censored):
    d = censored
    models = ["cox", "early", "coarse"]
    ours = survival_net_benefit(d["t"], d["e"], {m: d[m] for m in models}, HORIZON, SURV_THRESHOLDS)
    ref = dcurves.dca(data=d, outcome="e", modelnames=models, thresholds=SURV_THRESHOLDS, time=HORIZON,
                      time_to_outcome_col="t")
    table = ours.table
    assert ours.horizon == HORIZON and ours.n == len(d)
    for column in [*models, "all", "none"]:
        r = ref[ref["model"] == column].sort_values("threshold")
        np.testing.assert_allclose(r["threshold"], SURV_THRESHOLDS, atol=1e-12)
        np.testing.assert_allclose(table[column], r["net_benefit"].astype(float), rtol=0, atol=1e-10,
                                   err_msg=column)  # NaN where dcurves has None, in the same places
    for m in models:
        r = ref[ref["model"] == m].sort_values("threshold")["net_intervention_avoided"].astype(float)
        np.testing.assert_allclose(table[f"{m}_interventions_avoided"].to_numpy()[1:] / 100, r.to_numpy()[1:],
                                   rtol=0, atol=1e-10, err_msg=m)
    # the edge cases were exercised: not estimable, and no test-positive patient
    assert table["early"].isna().sum() > 0
    assert (table.loc[SURV_THRESHOLDS > 0.61, "coarse"] == 0).all()
    assert table["cox"].notna().sum() > 20


def test_survival_net_benefit_many_thresholds(censored, monkeypatch):
    """400 thresholds in random order on two coarse risks (a few distinct values each): the
    thresholds between the same two risks share one Kaplan-Meier fit, and every value is
    still dcurves' and, to the bit, that of a call at that threshold alone."""
    from radscore.stats import decision

    d = censored.assign(early=np.minimum(np.round(censored["early"], 1), 0.9) + 0.005)  # coarse, NaN at high pt
    models = ["coarse", "early"]
    grid = np.round(np.arange(0.00125, 1, 0.0025), 5)
    assert not np.isin(d[models].to_numpy(), grid).any()
    thresholds = np.random.default_rng(3).permutation(grid)
    fits, km_risk = [], decision._km_risk

    def counted(*args):
        fits.append(args)
        return km_risk(*args)

    monkeypatch.setattr(decision, "_km_risk", counted)
    table = survival_net_benefit(d["t"], d["e"], {m: d[m] for m in models}, HORIZON, thresholds).table
    # without sharing: one fit per threshold with a positive patient, and one for treat-all
    assert len(fits) <= 1 + sum(d[m].nunique() for m in models) < 100
    assert table["early"].isna().any() and (table["coarse"] == 0).any()
    monkeypatch.undo()
    some = grid[::20]
    rows = table.set_index("threshold").loc[some]
    ref = dcurves.dca(data=d, outcome="e", modelnames=models, thresholds=some, time=HORIZON,
                      time_to_outcome_col="t")
    for column in [*models, "all"]:
        r = ref[ref["model"] == column].sort_values("threshold")
        np.testing.assert_allclose(rows[column], r["net_benefit"].astype(float), rtol=0, atol=1e-10, err_msg=column)
    for p in some:
        alone = survival_net_benefit(d["t"], d["e"], {m: d[m] for m in models}, HORIZON, [p]).table.iloc[0]
        np.testing.assert_array_equal(rows.loc[p, [*models, "all"]].to_numpy(float),
                                      alone[[*models, "all"]].to_numpy(float))


def test_survival_net_benefit_hand_case():
    # times 1..6, events at 1, 3, 5; horizon 4. Risk > 0.5: patients at 1 (event), 2 (censored),
    # 5 (event). KM among them: 1 - 1/3 at t=1; censoring at 2; S(4) = 2/3. f = 3/6.
    t = [1, 2, 3, 4, 5, 6]
    e = [1, 0, 1, 0, 1, 0]
    r = [0.9, 0.8, 0.2, 0.3, 0.7, 0.1]
    row = survival_net_benefit(t, e, r, 4, [0.5]).table.iloc[0]
    assert row["model"] == pytest.approx((1 / 3) * 0.5 - (2 / 3) * 0.5 * 1.0)
    # all: KM of everyone S(4) = 5/6 * 3/4 = 0.625 -> NB = 0.375 - 0.625
    assert row["all"] == pytest.approx(0.375 - 0.625) and row["none"] == 0
    # a risk equal to the threshold is not positive (strict, as the binary curve)
    assert survival_net_benefit(t, e, [0.5] * 6, 4, [0.5]).table["model"].iloc[0] == 0


def test_survival_net_benefit_edge_cases():
    t = [1, 2, 3, 4, 5, 6]
    e = [1, 0, 1, 0, 1, 0]
    # the only positives leave before the horizon (one by an event, one censored): NaN
    tab = survival_net_benefit(t, e, [0.9, 0.8, 0.1, 0.1, 0.1, 0.1], 4, [0.5]).table
    assert np.isnan(tab["model"].iloc[0]) and np.isnan(tab["model_interventions_avoided"].iloc[0])
    with pytest.raises(DataError, match="after the last follow-up"):
        survival_net_benefit(t, e, [0.5] * 6, 7, [0.5])
    with pytest.raises(DataError, match="no events"):
        survival_net_benefit(t, [0] * 6, [0.5] * 6, 4, [0.5])
    with pytest.raises(DataError, match="probabilities"):
        survival_net_benefit(t, e, [2.0] * 6, 4, [0.5])
