import numpy as np
import pandas as pd
import pytest

from radscore.analyses.gene_sets import resolve_gene_sets, tme_cell_types, tme_gene_sets
from radscore.analyses.tme import TmePhenotype, cell_abundances, cell_type_cox, compute, tme_phenotype


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
    assert {"heatmap", "os_km", "classifier_calibration", "cell_type_cox_all", "cell_type_cox_hot"} <= set(sec.figures)
    cox = sec.tables["cell_type_cox"].set_index(["group", "cell_type"])
    assert set(cox.index.get_level_values("group")) == {"all", "hot", "cold"}
    assert cox.loc[("all", "CD8 T cells"), "hr"] < 1 < cox.loc[("all", "M2 macrophages"), "hr"]  # planted
    assert res.n_training == (res.phenotype.index.isin(_training(demo_ctx))).sum()
    zoo = sec.tables["classifier_comparison"]
    assert {"random_forest", "knn", "logistic_regression"} <= set(zoo["model"])
    auc = sec.tables["radscore_auc"].set_index("analysis")["auc"]
    assert auc["Rad-Score (random forest), testing"] > 0.6


# --- shipped gene sets -------------------------------------------------------------------

BINDEA_24 = {"aDC", "B cells", "CD8 T cells", "Cytotoxic cells", "DC", "Eosinophils", "iDC", "Macrophages",
             "Mast cells", "Neutrophils", "NK CD56bright cells", "NK CD56dim cells", "NK cells", "pDC", "T cells",
             "T helper cells", "Tcm", "Tem", "TFH", "Tgd", "Th1 cells", "Th17 cells", "Th2 cells", "TReg"}


def test_shipped_gene_sets_load_with_provenance():
    import json
    from importlib import resources

    raw = json.loads(resources.files("radscore.analyses").joinpath("data", "tme_cell_types.json").read_text())
    assert {"name", "source", "retrieved_from", "licence", "immune", "sets"} <= set(raw)
    gs = tme_cell_types()
    assert "Immunity 2013" in gs.source and "782-795" in gs.source
    assert gs.licence and len(gs.retrieved_from["commit"]) == 40
    sets = tme_gene_sets()
    assert set(sets) == BINDEA_24
    assert all(len(v) > 0 and len(set(v)) == len(v) for v in sets.values())
    # a few marker genes every reader of Bindea's Table S1 knows
    assert "FOXP3" in sets["TReg"] and {"CD8A", "CD8B"} <= set(sets["CD8 T cells"]) and sets["pDC"] == ["IL3RA"]
    assert set(gs.immune) <= set(sets) and "TReg" not in gs.immune
    assert set(gs.aliases) <= {g for v in sets.values() for g in v}


def test_resolve_gene_sets_uses_an_alias_only_when_the_published_symbol_is_absent():
    sets = {"aDC": ["INDO", "LAMP3", "CCL1"], "x": ["KIAA0125", "FAM30A"]}
    got = resolve_gene_sets(sets, ["IDO1", "LAMP3", "FAM30A"], {"INDO": "IDO1", "KIAA0125": "FAM30A"})
    assert got == {"aDC": ["IDO1", "LAMP3"], "x": ["FAM30A"]}
    assert resolve_gene_sets(sets, ["INDO", "IDO1"], {"INDO": "IDO1"})["aDC"] == ["INDO"]


# --- ssGSEA abundances -------------------------------------------------------------------

def test_cell_abundance_ranks_samples_with_the_planted_set_high():
    pytest.importorskip("gseapy", reason="ssGSEA needs gseapy (pip install 'radscore[tme]')")
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(200)]
    x = pd.DataFrame(rng.normal(6, 1, size=(12, 200)), columns=genes, index=[f"p{i}" for i in range(12)])
    high = ["p1", "p4", "p7", "p10"]
    x.loc[high, genes[:20]] += 4  # the set's genes rank near the top in these samples only
    x.loc["p11"] = np.nan  # no RNA-seq for this patient
    ab = cell_abundances(x, {"planted": genes[:20], "other": genes[100:120]}, min_size=5, seed=0)
    assert list(ab.columns) == ["planted", "other"] and ab.loc["p11"].isna().all()
    ranked = ab["planted"].drop("p11").sort_values(ascending=False).index[:4]
    assert set(ranked) == set(high)


def test_cell_abundances_of_the_shipped_sets_follow_planted_markers():
    pytest.importorskip("gseapy", reason="ssGSEA needs gseapy (pip install 'radscore[tme]')")
    sets = tme_gene_sets()
    genes = sorted({g for v in sets.values() for g in v} | {"IDO1"} | {f"N{i}" for i in range(300)})
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.normal(5, 1, size=(10, len(genes))), columns=genes, index=[f"p{i}" for i in range(10)])
    x.loc[["p0", "p1"], sets["CD8 T cells"]] += 5
    ab = cell_abundances(x, seed=0)
    assert set(ab.columns) == BINDEA_24
    assert set(ab["CD8 T cells"].nlargest(2).index) == {"p0", "p1"}


# --- phenotype fitted on training rows -----------------------------------------------------

def test_phenotype_fitted_on_training_ignores_testing_rows():
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    cells, hot = _cells(2)
    immune = ["CD8 T cells", "NK cells", "B cells"]
    train, test = cells.index[:14], cells.index[14:]
    m = TmePhenotype(immune=immune, random_state=3).fit(cells.loc[train])
    got = m.predict(cells)
    # testing rows made extreme must not move the training labels
    wild = cells.copy()
    wild.loc[test] = 50.0 * np.random.default_rng(9).normal(size=(len(test), cells.shape[1]))
    by_fn = tme_phenotype(wild, immune, 2, 3, training=train)
    assert (by_fn.loc[train] == got.loc[train]).all()
    # the same partition as scikit-learn's KMeans run by hand on the scaled training rows
    z = StandardScaler().fit_transform(cells.loc[train].to_numpy(float))
    km = KMeans(n_clusters=2, n_init=10, random_state=3).fit(z)
    hot_k = np.argmax(km.cluster_centers_[:, :3].mean(axis=1))
    assert ((got.loc[train] == "hot").to_numpy() == (km.labels_ == hot_k)).all()
    assert ((got == "hot").to_numpy() == hot).all()


def test_phenotype_is_nan_without_abundances():
    cells, _ = _cells(0)
    cells.iloc[3] = np.nan
    m = TmePhenotype(immune=["CD8 T cells"]).fit(cells.drop(cells.index[3]))
    got = m.predict(cells)
    assert pd.isna(got.iloc[3]) and got.drop(cells.index[3]).isin(["hot", "cold"]).all()


# --- univariate Cox per cell type ----------------------------------------------------------

def test_cell_type_cox_matches_lifelines_on_one_column():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(4)
    n = 80
    cells = pd.DataFrame({"A": rng.gamma(2.0, 1.0, n), "B": rng.normal(size=n)}, index=[f"p{i}" for i in range(n)])
    time = pd.Series(rng.exponential(np.exp(-0.6 * cells["A"])), index=cells.index)
    event = pd.Series((rng.random(n) < 0.8).astype(int), index=cells.index)
    tab = cell_type_cox(cells, time, event).set_index("cell_type")
    z = (cells["A"] - cells["A"].mean()) / cells["A"].std(ddof=1)
    ref = CoxPHFitter().fit(pd.DataFrame({"T": time, "E": event, "z": z}), "T", "E").summary.loc["z"]
    assert tab.loc["A", "hr"] == pytest.approx(ref["exp(coef)"], rel=1e-4)
    assert tab.loc["A", "ci_low"] == pytest.approx(ref["exp(coef) lower 95%"], rel=1e-4)
    assert tab.loc["A", "p_value"] == pytest.approx(ref["p"], rel=1e-3)
    p = tab["p_value"].to_numpy()
    assert tab["q_value"].to_numpy() == pytest.approx(np.minimum(1, np.minimum.accumulate(
        (np.sort(p) * 2 / np.array([1, 2]))[::-1])[::-1])[np.argsort(np.argsort(p))])
    assert tab.loc["A", "hr"] > 1  # planted: more A, shorter time


def _training(ctx):
    from radscore.analyses.context import patient_table

    pt = patient_table(ctx)
    return pt.loc[pt["cohort"] == "training", "patient_id"]


def test_tme_from_expression_when_no_cell_table(demo_ctx):
    pytest.importorskip("gseapy", reason="ssGSEA needs gseapy (pip install 'radscore[tme]')")
    import dataclasses

    expr = demo_ctx.expression.copy()
    no_rna = expr.index[:3]
    expr.loc[no_rna] = np.nan
    ctx = dataclasses.replace(demo_ctx, cells=None, expression=expr)
    res = compute(ctx)
    assert "ssGSEA" in res.cells_source and "CD8 T cells" in res.cells.columns
    assert res.phenotype.loc[no_rna].isna().all() and res.phenotype.drop(no_rna).isin(["hot", "cold"]).all()
    means = res.cluster_means.set_index("cell_type")
    assert means.loc["CD8 T cells", "hot"] > means.loc["CD8 T cells", "cold"]


def test_classifier_comparison_takes_the_tme_models_candidates(monkeypatch):
    # the same columns the model stage offered the TME Rad-Score: allowed in (ICC-robust or deep), then
    # PET, CT, PET/CT and deep features; never conventional PET measures, other columns or dropped features
    from types import SimpleNamespace

    import radscore.analyses.tme as tme
    from radscore.analyses.tme import _study_rad_score
    from radscore.errors import DataError

    ids = [f"P{i}" for i in range(8)]
    features = pd.DataFrame({"patient_id": ids, "timepoint": "baseline", "lesion_id": "1", "site": "primary",
                             "pet_tumor_a": 1.0, "ct_tumor_b": 2.0, "ct_tumor_not_robust": 3.0, "petct_tumor_c": 4.0,
                             "pet_conventional_SUVmax": 5.0, "deep_pet_00": 6.0, "deep_ct_00": 7.0, "cea": 8.0})
    seen = {}

    def capture(X, y, cohorts, **kwargs):
        seen["columns"] = list(X.columns)
        raise DataError("captured")

    monkeypatch.setattr(tme, "compare_classifiers", capture)
    ctx = SimpleNamespace(features=features, selection=None, seed=0,
                          model_features=("pet_tumor_a", "ct_tumor_b", "petct_tumor_c", "pet_conventional_SUVmax",
                                          "deep_pet_00", "deep_ct_00", "cea"))
    pt = pd.DataFrame({"patient_id": ids, "cohort": ["training"] * 6 + ["testing"] * 2, "radscore": np.arange(8.0),
                       "group": "low"})
    phenotype = pd.Series(["hot", "cold"] * 4, index=ids)
    with pytest.raises(DataError, match="captured"):
        _study_rad_score(ctx, phenotype, pt)
    assert seen["columns"] == ["pet_tumor_a", "ct_tumor_b", "petct_tumor_c", "deep_pet_00", "deep_ct_00"]
