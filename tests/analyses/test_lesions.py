import dataclasses

import numpy as np
import pandas as pd
import pytest

from radscore.analyses._shared import Skipped
from radscore.analyses.lesions import compute, interaction_cox, site_discrimination


def test_site_discrimination_hand_case():
    les = pd.DataFrame({"site": ["primary"] * 4 + ["liver"] * 4,
                        "radscore": [1, 2, 3, 4, 4, 3, 2, 1.0], "ndb": [0, 0, 1, 1, 0, 1, 0, 1]})
    t = site_discrimination(les, "ndb").set_index("site")
    assert t.loc["primary", "auc"] == 1.0
    # liver: positives {3, 1} vs negatives {4, 2}: only 3 > 2 of four pairs
    assert t.loc["liver", "auc"] == pytest.approx(0.25)
    assert t.loc["liver", "median_radscore"] == 2.5


def test_interaction_cox_detects_planted_interaction():
    rng = np.random.default_rng(0)
    n = 400
    high = rng.random(n) < 0.5
    combo = rng.random(n) < 0.5
    # combination halves the hazard only in the high group
    hazard = np.exp(1.0 * high - np.log(4) * (high & combo))
    df = pd.DataFrame({"t": rng.exponential(1 / hazard), "e": 1,
                       "group": np.where(high, "high", "low"), "arm": np.where(combo, "combination", "monotherapy")})
    tab = interaction_cox(df, "t", "e", "group", "arm").summary.set_index("covariate")
    # the second sorted level (monotherapy) is coded 1, so the interaction coef is +log 4
    assert tab.loc["interaction", "coef"] == pytest.approx(np.log(4), abs=0.35)
    assert tab.loc["interaction", "p_value"] < 0.001
    assert abs(tab.loc["treatment_monotherapy", "coef"]) < 0.3


def test_lesions_on_demo(demo_ctx):
    secs = {s.key: s for s in compute(demo_ctx).sections()}
    assert set(secs["lesion_sites"].tables["by_site"]["site"]) == {"primary", "liver", "adrenal", "lymph_node"}
    arms = secs["treatment_arms"]
    assert arms.skipped is None
    assert set(arms.tables["logrank"]["radscore_group"]) == {"low", "high"}
    assert "interaction" in set(arms.tables["interaction_cox"]["covariate"])


def test_lesions_skip_without_treatment(demo_ctx):
    ctx = dataclasses.replace(demo_ctx, manifest=demo_ctx.manifest.drop(columns="treatment"))
    res = compute(ctx)
    assert isinstance(res.arms, Skipped) and not isinstance(res.sites, Skipped)  # one absent input, one section
    secs = {s.key: s for s in res.sections()}
    assert "treatment" in secs["treatment_arms"].skipped
    assert secs["lesion_sites"].skipped is None


def test_small_site_gets_auc_without_ci():
    les = pd.DataFrame({"site": ["liver"] * 3, "radscore": [1.0, 2.0, 3.0], "ndb": [0, 1, 1]})
    row = site_discrimination(les, "ndb").iloc[0]
    assert row["auc"] == 1.0 and np.isnan(row["ci_low"]) and "DeLong" in row["note"]
    from radscore.analyses._shared import roc_figure

    fig = roc_figure({"liver": (les["ndb"], les["radscore"])}, "small")
    assert "no CI" in fig.axes[0].get_legend().get_texts()[0].get_text()
