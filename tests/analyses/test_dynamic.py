import numpy as np
import pytest

from radscore.analyses.dynamic import paired_change, run


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
    (sec,) = run(demo_ctx)
    assert sec.skipped is None
    d = sec.tables["discrimination"].iloc[0]
    assert d["auc"] > 0.7 and d["p_value"] < 0.05  # planted: follow-up state drives progression
    pc = sec.tables["paired_change"].set_index("group")
    assert pc.loc["NDB (follow-up)", "median_change"] > 0
    assert {"roc", "pfs_followup_km", "trajectories"} <= set(sec.figures)


def test_dynamic_skips_without_followup(demo_ctx):
    import dataclasses

    ctx = dataclasses.replace(demo_ctx, scores=demo_ctx.scores[demo_ctx.scores["timepoint"] == "baseline"])
    (sec,) = run(ctx)
    assert "follow-up" in sec.skipped
