import numpy as np
import pytest

from radscore.analyses.dynamic import compute, paired_change, progression_within
from radscore.errors import DataError


def test_paired_change_hand_case():
    base = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    fu = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 1.5, 0.0, 2.0])
    outcome = np.array([1, 1, 1, 1, 1, 0, 0, 0])
    t = paired_change(base, fu, outcome, labels=("DCB", "NDB")).set_index("group")
    # five positive, distinct differences: exact two-sided p = 2 / 2**5
    assert t.loc["NDB", "p_value"] == pytest.approx(2 / 32)
    assert t.loc["NDB", "median_change"] == 3.0
    assert t.loc["DCB", "n"] == 3
    assert t.loc["DCB", "median_change"] == 0.5
    assert t.loc["DCB", "median_followup"] == 1.5


def test_paired_change_no_change_gives_nan_p():
    t = paired_change([1, 2], [1, 2], [0, 0])
    assert np.isnan(t["p_value"]).all()


def test_dynamic_on_demo(demo_ctx):
    res = compute(demo_ctx)
    assert res.y.size == res.radscore.size == res.discrimination["n"].iloc[0]
    (sec,) = res.sections()
    assert sec.skipped is None
    d = sec.tables["discrimination"].iloc[0]
    assert d["auc"] > 0.7 and d["p_value"] < 0.05  # planted: follow-up state drives progression
    pc = sec.tables["paired_change"].set_index("group")
    assert pc.loc["NDB (follow-up)", "median_change"] > 0
    assert {"roc", "pr", "calibration", "decision_curve", "by_outcome", "pfs_followup_km", "trajectories"} <= set(sec.figures)


def test_dynamic_skips_without_followup(demo_ctx):
    import dataclasses

    ctx = dataclasses.replace(demo_ctx, scores=demo_ctx.scores[demo_ctx.scores["timepoint"] == "baseline"])
    with pytest.raises(DataError, match="follow-up"):
        compute(ctx)


def test_progression_within_window():
    out = progression_within([3, 7, 5, 6, 8], [1, 1, 0, 1, 0], 6)
    assert out[[0, 1, 3, 4]].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert np.isnan(out[2])  # censored at 5 < 6 months: unknown


def test_dynamic_derives_progression_when_column_absent(demo_ctx):
    import dataclasses

    m = demo_ctx.manifest.drop(columns="progression_6m")
    (sec,) = compute(dataclasses.replace(demo_ctx, manifest=m)).sections()
    assert sec.skipped is None
    # where the status at 6 months is observable the derived label equals the simulator's
    fu = demo_ctx.manifest[demo_ctx.manifest["timepoint"] == "followup"]
    derived = progression_within(fu["pfs_fu_months"], fu["pfs_fu_event"], 6)
    known = ~np.isnan(derived)
    assert known.sum() > 20
    np.testing.assert_array_equal(derived[known], fu["progression_6m"].to_numpy()[known])
    assert sec.tables["discrimination"]["n"].iloc[0] < fu["patient_id"].nunique() + 1
