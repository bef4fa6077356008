import numpy as np
import pandas as pd
import pytest

from radscore.analyses.radiogenomics import GEP_GENES, cytolytic_activity, gep_score, group_tests, gsea_prerank, ssgsea_scores


def test_cyt_is_geometric_mean_on_linear_scale():
    expr = pd.DataFrame({"GZMA": [np.log2(4.0)], "PRF1": [np.log2(13.0)]}, index=["p"])
    assert cytolytic_activity(expr).iloc[0] == pytest.approx(np.sqrt(3.01 * 12.01))


def test_gep_unweighted_and_weighted():
    expr = pd.DataFrame([np.arange(18.0)], columns=list(GEP_GENES), index=["p"])
    assert gep_score(expr).iloc[0] == pytest.approx(8.5)
    w = {"CCL5": 2.0, "STAT1": -1.0}
    assert gep_score(expr, w).iloc[0] == pytest.approx(2 * 0 - 1 * list(GEP_GENES).index("STAT1"))


def test_published_weights_cover_the_18_genes():
    from radscore.analyses.radiogenomics import GEP_WEIGHTS_CRISTESCU2018

    assert set(GEP_WEIGHTS_CRISTESCU2018) == set(GEP_GENES)


def test_group_tests_bh_q():
    idx = [f"p{i}" for i in range(8)]
    g = pd.Series(["low"] * 4 + ["high"] * 4, index=idx)
    v = pd.DataFrame({"sep": [1, 2, 3, 4, 5, 6, 7, 8], "mix": [1, 5, 3, 7, 2, 6, 4, 8],
                      "same": [1, 2, 3, 4, 1, 2, 3, 4]}, index=idx, dtype=float)
    t = group_tests(v, g).set_index("variable")
    # complete separation of 4 vs 4: exact two-sided p = 2 / C(8,4)
    assert t.loc["sep", "p_value"] == pytest.approx(2 / 70)
    p = t["p_value"].to_numpy()
    order = np.argsort(p)
    q_hand = np.minimum.accumulate((p[order] * 3 / np.arange(1, 4))[::-1])[::-1]
    assert t["q_value"].to_numpy()[order] == pytest.approx(np.minimum(q_hand, 1))
    assert t.loc["sep", "median_high"] == 6.5


def test_ssgsea_and_prerank_find_the_planted_set():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(100)]
    n = 30
    z = rng.normal(size=n)
    x = rng.normal(size=(n, 100))
    x[:, :15] += 2 * z[:, None]
    expr = pd.DataFrame(x + 8, columns=genes, index=[f"p{i}" for i in range(n)])
    sets = {"UP": genes[:15], "NOISE": genes[50:65]}
    ss = ssgsea_scores(expr, sets, seed=0)
    assert np.corrcoef(ss["UP"], z)[0, 1] > 0.8
    res = gsea_prerank(expr, pd.Series(-z, index=expr.index), sets, permutations=200, seed=0).set_index("Term")
    assert res.loc["UP", "NES"] < 0 and float(res.loc["UP", "NOM p-val"]) < 0.05


def test_radiogenomics_on_demo(demo_ctx):
    from radscore.analyses.radiogenomics import compute

    secs = {s.key: s for s in compute(demo_ctx).sections()}
    sig = secs["radiogenomics"].tables["signatures"].set_index("variable")
    assert sig.loc["CYT", "median_low"] > sig.loc["CYT", "median_high"]  # planted
    assert sig.loc["GEP", "q_value"] < 0.05
    cells = secs["cell_abundance"].tables["tests"].set_index("variable")
    assert cells.loc["CD8 T cells", "spearman_rho"] < 0


def test_without_gseapy_signatures_still_run(demo_ctx, monkeypatch):
    import sys

    from radscore.analyses.radiogenomics import compute

    monkeypatch.setitem(sys.modules, "gseapy", None)
    res = compute(demo_ctx)
    assert res.signatures.gsea_prerank is None
    sec = {s.key: s for s in res.sections()}["radiogenomics"]
    assert "ssGSEA and GSEA skipped: needs gseapy: pip install 'radscore[tme]'" in sec.text
    assert "gsea_prerank" not in sec.tables
    assert {"CYT", "GEP"} <= set(sec.tables["signatures"]["variable"])
