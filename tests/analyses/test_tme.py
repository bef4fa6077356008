import numpy as np
import pandas as pd

from radscore.analyses.tme import compute, tme_phenotype


def _cells(seed):
    rng = np.random.default_rng(seed)
    hot = rng.random(20) < 0.5
    immune = np.where(hot, 1.0, 0.0)[:, None] + 0.1 * rng.normal(size=(20, 3))
    stroma = np.where(hot, 0.0, 1.0)[:, None] + 0.1 * rng.normal(size=(20, 2))
    df = pd.DataFrame(np.c_[immune, stroma], columns=["CD8 T cells", "NK cells", "B cells", "CAFs", "Tregs"])
    return df, hot


def test_hot_cluster_is_the_immune_rich_one():
    cells, hot = _cells(0)
    for seed in (0, 1, 7):
        ph = tme_phenotype(cells, ["CD8 T cells", "NK cells", "B cells"], 2, seed)
        assert ((ph == "hot").to_numpy() == hot).all()


def test_naming_follows_immune_columns_not_cluster_index():
    cells, hot = _cells(1)
    # declaring the stromal columns "immune" must flip the names
    ph = tme_phenotype(cells, ["CAFs", "Tregs"], 2, 0)
    assert ((ph == "hot").to_numpy() == ~hot).all()


def test_tme_on_demo(demo_ctx):
    res = compute(demo_ctx)
    assert res.rad_score is not None, res.rad_score_note
    (sec,) = res.sections()
    assert sec.skipped is None
    means = sec.tables["cluster_means"].set_index("cell_type")
    assert means.loc["CD8 T cells", "hot"] > means.loc["CD8 T cells", "cold"]
    assert means.loc["M2 macrophages", "hot"] < means.loc["M2 macrophages", "cold"]
    assert {"heatmap", "os_km", "classifier_calibration"} <= set(sec.figures)
    zoo = sec.tables["classifier_comparison"]
    assert {"random_forest", "knn", "logistic_regression"} <= set(zoo["model"])
    auc = sec.tables["radscore_auc"].set_index("analysis")["auc"]
    assert auc["Rad-Score (random forest), testing"] > 0.6
