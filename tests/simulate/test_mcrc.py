import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from radscore.cli import main
from radscore.config import PROTOCOLS, config_from_dict
from radscore.errors import ConfigError
from radscore.io.manifest import read_manifest
from radscore.simulate import write_mcrc_study
from radscore.simulate.mcrc import COHORTS, cohort_sizes, simulate_mcrc
from radscore.simulate.phantom import EXTERNAL_SITES

# Marker genes of a few cell types (Bindea et al. 2013), independent of the module's own sets.
SETS = {
    "CD8 T cells": ["CD8A", "CD8B", "CD160", "ZNF683"],
    "Cytotoxic cells": ["GZMA", "GZMB", "PRF1", "NKG7", "GNLY"],
    "NK cells": ["KLRD1", "KLRF1", "NCR1", "SH2D1B"],
    "Mast cells": ["TPSAB1", "CPA3", "MS4A2", "HDC"],
    "Neutrophils": ["CSF3R", "FCGR3B", "CXCR2", "FPR1"],
}
IMMUNE = ["CD8 T cells", "Cytotoxic cells", "NK cells"]
SIZES = (10, 3, 3, 4)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mcrc")
    path = write_mcrc_study(folder, SIZES, seed=4, workers=2, second_reader=6, gene_sets=SETS, immune=IMMUNE)
    return path.parent


def test_cohorts_scans_and_scanners(study):
    man = pd.read_csv(study / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    assert man["patient_id"].is_unique  # one baseline scan per patient
    assert set(man["timepoint"]) == {"baseline"} and set(man["lesion_id"]) == {"1"} and set(man["site"]) == {"liver"}
    assert man["cohort"].value_counts().to_dict() == dict(zip(COHORTS, SIZES))
    by = man.groupby("cohort")["scanner"].agg(set).to_dict()
    assert by["training"] == by["internal"] == {"reference"}
    assert by["external_2"] == {s.name for s in EXTERNAL_SITES}  # 4 patients: every site in turn
    # the second reader re-segmented 6 training patients only
    reread = man[man["mask_2"].notna()]
    assert len(reread) == 6 and set(reread["cohort"]) == {"training"}
    assert all((study / p).exists() for col in ("ct", "pet", "mask") for p in man[col])
    assert all((study / p).exists() for p in reread["mask_2"])
    # the manifest reads as a study manifest with the response endpoint
    df = read_manifest(study / "manifest.csv", outcome="response")
    assert set(df["response"]) <= {0, 1} and df["pfs_months"].le(df["os_months"]).all()
    assert ((df["recist"].isin(["CR", "PR"])).astype(int) == df["response"]).all()


def test_expression_only_for_rna_cohorts(study):
    man = pd.read_csv(study / "manifest.csv", dtype={"patient_id": str})
    expr = pd.read_csv(study / "expression.csv", dtype={"patient_id": str})
    rna = man.loc[man["cohort"] != "external_2", "patient_id"]
    assert sorted(expr["patient_id"]) == sorted(rna)
    assert {g for genes in SETS.values() for g in genes} <= set(expr.columns)
    clin = pd.read_csv(study / "clinical.csv", dtype={"patient_id": str})
    assert sorted(clin["patient_id"]) == sorted(man["patient_id"])  # IHC and clinical data for everyone
    assert clin[["cd3_ct", "cd3_im", "cd8_ct", "cd8_im"]].notna().all().all()


def test_study_yaml_is_a_valid_config(study):
    data = yaml.safe_load((study / "study.yaml").read_text())
    assert data["protocol"] == "mcrc_seed"
    if "mcrc_seed" not in PROTOCOLS:  # TODO(lead): drop once the mcrc_seed preset is merged
        data["protocol"] = "quick"
    cfg = config_from_dict(data)
    assert cfg.tables.expression == "expression.csv" and cfg.analyses.deep.enabled
    clin = pd.read_csv(study / "clinical.csv")
    # the nomogram's candidates: clinical columns, and conventional PET measures the extraction adds
    from radscore.catalog import CONVENTIONAL_PREFIX

    clinical = {c for c in cfg.analyses.nomogram.candidates if not c.startswith(CONVENTIONAL_PREFIX)}
    assert set(cfg.clinical) <= set(clin.columns) and clinical <= set(clin.columns)
    assert {f"{CONVENTIONAL_PREFIX}SUVmax", f"{CONVENTIONAL_PREFIX}MTV_ml"} <= set(cfg.analyses.nomogram.candidates)


def test_same_seed_same_study(study, tmp_path):
    # one worker this time: the images must not depend on scheduling either
    again = write_mcrc_study(tmp_path / "b", SIZES, seed=4, workers=1, second_reader=6, gene_sets=SETS,
                             immune=IMMUNE).parent
    for name in ("manifest.csv", "clinical.csv", "expression.csv", "study.yaml"):
        assert (study / name).read_bytes() == (again / name).read_bytes()
    man = pd.read_csv(study / "manifest.csv")
    assert (study / man["pet"].iloc[-1]).read_bytes() == (again / man["pet"].iloc[-1]).read_bytes()
    other = simulate_mcrc(SIZES, seed=5, gene_sets=SETS, immune=IMMUNE)
    assert not other.expression.equals(simulate_mcrc(SIZES, seed=4, gene_sets=SETS, immune=IMMUNE).expression)


@pytest.fixture(scope="module")
def large():
    sim = simulate_mcrc((400, 200, 200, 400), seed=11, gene_sets=SETS, immune=IMMUNE)
    df = sim.latent.merge(sim.outcomes, on="patient_id").merge(sim.clinical, on="patient_id")
    return sim, df


def test_hot_fraction_and_tables_shaped_like_the_seed(large):
    _, df = large
    assert 0.38 <= df["hot"].mean() <= 0.52
    assert 0.38 <= df["response"].mean() <= 0.52  # Table 1: ORR 45-48 % (26 % in external set 1)
    assert 0.10 <= (df["recist"] == "PD").mean() <= 0.25
    assert 5.5 <= df["pfs_months"].median() <= 9.5 and 15 <= df["os_months"].median() <= 26
    assert 0.55 <= (df["sex"] == "M").mean() <= 0.8
    assert 9 <= df["cd3_ct"].mean() <= 15 and 9 <= df["cd8_ct"].mean() <= 15  # Table 1: about 12


def test_hot_tumours_express_immune_genes_and_have_more_cd8(large):
    sim, df = large
    hot = sim.latent.set_index("patient_id")["hot"]
    expr = sim.expression
    h = hot.loc[expr.index].to_numpy()
    immune_genes = [g for s in IMMUNE for g in SETS[s]]
    score = expr[immune_genes].mean(axis=1).to_numpy()
    res = stats.mannwhitneyu(score[h], score[~h], alternative="greater")
    assert res.pvalue < 1e-20
    noise = stats.mannwhitneyu(expr.loc[h, "GENE001"], expr.loc[~h, "GENE001"])
    assert noise.pvalue > 1e-3  # noise genes carry no immune signal
    for col in ("cd8_ct", "cd8_im"):
        assert stats.mannwhitneyu(df.loc[df.hot, col], df.loc[~df.hot, col], alternative="greater").pvalue < 1e-20
    # a rank-based per-sample set score (ssGSEA-like) and k-means recover the phenotype
    ranks = expr.rank(axis=1)
    cells = pd.DataFrame({s: ranks[g].mean(axis=1) for s, g in SETS.items()})
    labels = KMeans(2, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(cells))
    hot_cluster = pd.Series(cells[IMMUNE].mean(axis=1).to_numpy()).groupby(labels).mean().idxmax()
    assert ((labels == hot_cluster) == h).mean() > 0.8


def test_response_rate_higher_in_hot(large):
    _, df = large
    table = pd.crosstab(df["hot"], df["response"])
    _, p = stats.fisher_exact(table.to_numpy())
    rate = df.groupby("hot")["response"].mean()
    assert rate[True] > rate[False] + 0.3 and p < 1e-20
    ext2 = df[df["cohort"] == "external_2"]
    assert ext2.groupby("hot")["response"].mean().diff().iloc[-1] > 0.3


@pytest.mark.parametrize("value, words", [
    ("105,60,42", "3 cohort"), ("105,60,42,99,5", "5 cohort"), ("a,60,42,99", "whole numbers"),
    ("10.5,60,42,99", "whole numbers"), ((10.5, 60, 42, 99), "whole numbers"), ("5,60,42,99", "at least 10"),
    ("105,-1,42,99", "negative"),
])
def test_bad_cohort_sizes_are_clear(value, words):
    with pytest.raises(ConfigError, match=words) as err:
        cohort_sizes(value)
    assert "training, internal, external_1, external_2" in err.value.message


def test_cli_simulates_mcrc_and_refuses_mixed_options(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["-q", "simulate", "--study", "mcrc", "--cohort-sizes", "10,0,1,1", "--out", str(out)]) == 0
    man = pd.read_csv(out / "manifest.csv")
    assert man["cohort"].value_counts().to_dict() == {"training": 10, "external_1": 1, "external_2": 1}
    assert "12 patients" in capsys.readouterr().out
    assert main(["-q", "simulate", "--study", "mcrc", "--cohort-sizes", "1,2", "--out", str(tmp_path / "x")]) == 2
    assert main(["-q", "simulate", "--study", "mcrc", "--patients", "30", "--out", str(tmp_path / "y")]) == 2
    assert main(["-q", "simulate", "--cohort-sizes", "10,1,1,1", "--out", str(tmp_path / "z")]) == 2
    assert "--cohort-sizes: for --study mcrc only" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in ("x", "y", "z"))
