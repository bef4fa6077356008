import numpy as np
import pandas as pd
import pytest

from radscore.analyses.immunoscore import compute, density_thresholds, immunoscore, immunoscore_group


def test_thresholds_are_percentiles():
    d = pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [10.0, 20, 30, 40, np.nan]})
    t = density_thresholds(d, 75)
    assert t["a"] == 4.0
    assert t["b"] == pytest.approx(32.5)  # linear interpolation over 10..40


def test_score_counts_high_densities():
    thr = pd.Series({"cd3_ct": 5.0, "cd3_im": 5.0, "cd8_ct": 5.0, "cd8_im": 5.0})
    d = pd.DataFrame({"cd3_ct": [6, 1, 5, 9], "cd3_im": [6, 1, 1, 9], "cd8_ct": [6, 1, 1, np.nan],
                      "cd8_im": [6, 1, 1, 9]}, dtype=float)
    s = immunoscore(d, thr)
    assert s.iloc[:3].tolist() == [4.0, 0.0, 1.0]
    assert np.isnan(s.iloc[3])
    assert immunoscore_group(s).tolist() == ["high", "low", "low", ""]
    assert immunoscore_group([3, 2], high_min=3).tolist() == ["high", "low"]


def test_immunoscore_on_demo_uses_training_thresholds(demo_ctx):
    (sec,) = compute(demo_ctx).sections()
    assert sec.skipped is None
    from radscore.analyses.context import patient_table

    pt = patient_table(demo_ctx)
    train = pt[pt["cohort"] == "training"]
    thr = sec.tables["thresholds"].set_index("density")["threshold"]
    assert thr["cd8_im"] == pytest.approx(np.percentile(train["cd8_im"], 75))
    assert thr["cd8_im"] != pytest.approx(np.percentile(pt["cd8_im"], 75))
    assert "os_km" in sec.figures
    rho = sec.tables["density_spearman"].set_index("density")
    assert rho.loc["cd3_ct", "cd3_ct"] == 1.0 and rho.loc["cd3_ct", "cd8_ct"] > 0  # planted: all rise with z


def test_marker_groups_use_training_percentile_of_the_region_mean():
    from radscore.analyses.immunoscore import marker_groups

    df = pd.DataFrame({"cd3_ct": [1.0, 2, 3, 4, 100, 200], "cd3_im": [1.0, 2, 3, 4, 100, np.nan],
                       "cd8_ct": [4.0, 3, 2, 1, 0, 0], "cd8_im": [4.0, 3, 2, 1, 0, 0]})
    train = pd.Series([True, True, True, True, False, False])
    g = marker_groups(df, ["cd3_ct", "cd3_im", "cd8_ct", "cd8_im"], train, 75)
    # CD3 mean of the training rows 1..4: 75th percentile 3.25 (the testing rows' 100 do not move it)
    assert g["cd3"].tolist() == ["low", "low", "low", "high", "high", ""]
    assert g["cd8"].tolist() == ["high", "low", "low", "low", "low", "low"]


def test_radscore_by_groups_and_four_group_km(demo_ctx):
    from scipy import stats as sps

    from radscore.analyses.context import patient_table

    res = compute(demo_ctx)
    (sec,) = res.sections()
    assert {"os_km_markers", "pfs_km_markers", "radscore_by_immunoscore_group", "radscore_by_marker_cd3"} <= set(
        sec.figures)
    km = res.km["os_km_markers"]
    assert set(np.unique(km.groups)) - {""} == {"CD3-high / CD8-high", "CD3-high / CD8-low", "CD3-low / CD8-high",
                                                 "CD3-low / CD8-low"}
    by = sec.tables["radscore_by_group"].set_index("grouping")
    pt = patient_table(demo_ctx, "baseline")
    pt = pt[pt[list(demo_ctx.settings.immunoscore.columns)].notna().all(axis=1)]
    g = res.groups["immunoscore_group"].to_numpy()
    r = res.groups["radscore"].to_numpy()
    p = sps.mannwhitneyu(r[g == "high"], r[g == "low"]).pvalue
    assert by.loc["Immunoscore group", "p_value"] == pytest.approx(p, rel=1e-12)
    # planted: immune-hot patients have low Radscores in this context, and high Immunoscores
    assert by.loc["Immunoscore group", "median_high"] < by.loc["Immunoscore group", "median_low"]
    assert len(res.groups) == len(pt)
