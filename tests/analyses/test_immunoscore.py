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
