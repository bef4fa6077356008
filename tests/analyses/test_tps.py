import dataclasses

import pytest

from radscore.analyses.tps import compute, failure_cohorts, four_groups
from radscore.errors import DataError


def test_failure_cohorts_hand_case():
    y = [1, 1, 0, 0, 1, 0]
    group = ["low", "high", "high", "low", "high", "low"]
    tps = [60, 0.5, 0.5, 30, 10, 0]
    rad, tp = failure_cohorts(y, group, tps, 1, 50)
    assert rad.tolist() == [True, False, True, False, False, False]
    assert tp.tolist() == [True, False, True, False, False, True]


def test_four_groups_labels():
    g = four_groups(["low", "high"], [50, 49.9], 50)
    assert g.tolist() == ["low-RS, TPS>=50%", "high-RS, TPS<50%"]


def test_tps_on_demo(demo_ctx):
    res = compute(demo_ctx)
    assert res.integrated is not None and res.integrated.n_test > 0
    (sec,) = res.sections()
    assert sec.skipped is None
    assert {"failure_cohort_auc", "correlation", "integrated_auc", "integrated_delong", "integrated_nri_idi"} <= set(sec.tables)
    auc = sec.tables["integrated_auc"].set_index("analysis")["auc"]
    assert 0.5 < auc["TPS-Radscore (testing)"] <= 1
    assert sec.tables["correlation"]["spearman_rho"].iloc[0] < 0  # TPS rises with z, Radscore falls


def test_tps_skips_without_column(demo_ctx):
    ctx = dataclasses.replace(demo_ctx, manifest=demo_ctx.manifest.drop(columns="tps"))
    with pytest.raises(DataError, match="tps"):
        compute(ctx)
