"""The evaluation stage on a score table: cohorts (manifest-named external ones included),
every A10 metric per model and cohort, and the comparisons between models."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, cohen_kappa_score, matthews_corrcoef, roc_auc_score

from radscore.config import config_from_dict
from radscore.errors import DataError, ManifestError
from radscore.pipeline.evaluate import compute_metrics, metrics_table
from radscore.pipeline.model import make_split

MODELS = ("pet", "ct", "petct", "comb")


def _study(n=90, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    cohort = np.array(["training"] * 50 + ["testing"] * 20 + ["external_tcia"] * 20)
    manifest = pd.DataFrame({"patient_id": ids, "timepoint": "baseline", "lesion_id": "1", "site": "primary",
                             "ndb": y, "cohort": cohort})
    rows = []
    for k, m in enumerate(MODELS):
        signal = (1.0 + 0.5 * k) * y + rng.normal(size=n)
        oof = np.where(cohort == "training", signal + rng.normal(size=n), signal)
        rows.append(pd.DataFrame({"patient_id": ids, "timepoint": "baseline", "lesion_id": "1", "site": "primary",
                                  "cohort": cohort, "model": m, "radscore": signal, "radscore_oof": oof}))
    return manifest, pd.concat(rows, ignore_index=True)


def test_manifest_cohorts_are_used_as_given():
    manifest, _ = _study()
    cohorts = make_split(config_from_dict({}), manifest)
    assert cohorts.to_dict() == dict(zip(manifest["patient_id"], manifest["cohort"]))


def test_an_empty_cohort_cell_is_named():
    manifest, _ = _study()
    manifest.loc[7, "cohort"] = None
    with pytest.raises(ManifestError, match="P007"):
        make_split(config_from_dict({}), manifest)


def test_too_few_training_patients_in_the_manifest_cohorts():
    manifest, _ = _study()
    manifest["cohort"] = np.where(np.arange(len(manifest)) < 5, "training", "testing")
    with pytest.raises(DataError, match="training cohort"):
        make_split(config_from_dict({}), manifest)


def test_every_metric_per_model_and_cohort_equals_the_reference_definitions():
    manifest, scores = _study()
    cutoffs = {m: 0.4 for m in MODELS}
    metrics = compute_metrics(scores, manifest, config_from_dict({}), cutoffs)
    assert metrics["cohorts"] == ["training_apparent", "training_oof", "testing", "external_tcia"]
    y = manifest.set_index("patient_id")["ndb"]
    for model in MODELS:
        for key, cohort, column in (("training_apparent", "training", "radscore"),
                                    ("training_oof", "training", "radscore_oof"),
                                    ("testing", "testing", "radscore"), ("external_tcia", "external_tcia", "radscore")):
            s = scores[(scores.model == model) & (scores.cohort == cohort)]
            yy, ss = y.loc[s.patient_id].to_numpy(), s[column].to_numpy()
            m = metrics["models"][model]["cohorts"][key]
            assert m["n"] == len(yy) and m["n_positive"] == yy.sum()
            assert m["auc"] == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
            assert m["auc_ci_low"] <= m["auc"] <= m["auc_ci_high"]
            assert m["pr_auc"] == pytest.approx(average_precision_score(yy, ss), abs=1e-12)
            pred = (ss > 0.4).astype(int)
            at = m["at_cutoff"]
            assert at["sensitivity"]["estimate"] == pytest.approx(pred[yy == 1].mean())
            assert at["specificity"]["estimate"] == pytest.approx(1 - pred[yy == 0].mean())
            assert at["mcc"]["estimate"] == pytest.approx(matthews_corrcoef(yy, pred))
            assert at["kappa"]["estimate"] == pytest.approx(cohen_kappa_score(yy, pred))
            assert 0.0 <= m["hosmer_lemeshow"]["p_value"] <= 1.0
    for key in metrics["cohorts"]:
        delong = metrics["comparisons"][key]["delong"]
        assert len(delong) == 6
        recl = {r["against"]: r for r in metrics["comparisons"][key]["reclassification"]}
        assert set(recl) == {"pet", "ct", "petct"}
        assert all(0 <= r["nri_p_value"] <= 1 and 0 <= r["idi_p_value"] <= 1 for r in recl.values())
    table = metrics_table(metrics)
    assert set(table["cohort"]) == {"training (apparent)", "training (out-of-fold)", "testing", "external_tcia"}


def test_a_patient_at_the_cutoff_is_predicted_negative():
    manifest, scores = _study()
    s = scores[(scores.model == "comb") & (scores.cohort == "testing")]
    cut = float(s["radscore"].iloc[0])
    metrics = compute_metrics(scores, manifest, config_from_dict({}), {m: cut for m in MODELS})
    c = metrics["models"]["comb"]["cohorts"]["testing"]["confusion"]
    y = manifest.set_index("patient_id")["ndb"].loc[s.patient_id].to_numpy()
    assert c["tp"] + c["fp"] == int((s["radscore"].to_numpy() > cut).sum())
    assert c["tp"] == int(((s["radscore"].to_numpy() > cut) & (y == 1)).sum())


def test_without_out_of_fold_scores_training_is_apparent_only():
    manifest, scores = _study()
    scores.loc[scores.cohort == "training", "radscore_oof"] = np.nan
    metrics = compute_metrics(scores, manifest, config_from_dict({}), {m: 0.0 for m in MODELS})
    assert metrics["cohorts"] == ["training_apparent", "testing", "external_tcia"]


def test_table_one_tests_equal_scipy():
    from scipy import stats as sps

    from radscore.pipeline.evaluate import baseline_section

    rng = np.random.default_rng(3)
    manifest, _ = _study()
    n = len(manifest)
    manifest = manifest.assign(age=rng.normal(60, 8, n), ldh=rng.lognormal(5, 0.8, n), sex=rng.choice(["F", "M"], n))
    cohorts = manifest.set_index("patient_id")["cohort"]
    section = baseline_section(manifest, cohorts, config_from_dict({"clinical": ["age", "ldh", "sex"]}))
    t = section.tables["table 1"].set_index("variable")
    assert list(t.columns[3:6]) == ["training", "testing", "external_tcia"]
    by = [manifest.loc[manifest.cohort == c] for c in ("training", "testing", "external_tcia")]
    assert float(t.loc["age, mean (SD)", "P-Value"]) == pytest.approx(
        sps.f_oneway(*[g["age"] for g in by]).pvalue, abs=1e-3)  # printed to 3 decimals
    assert t.loc["ldh, median [Q1,Q3]", "Test"] == "Kruskal-Wallis"  # log-normal: not normal
    assert float(t.loc["ldh, median [Q1,Q3]", "P-Value"]) == pytest.approx(
        sps.kruskal(*[g["ldh"] for g in by]).pvalue, abs=1e-3)
    chi = sps.chi2_contingency(pd.crosstab(manifest["sex"], manifest["cohort"]), correction=False)
    assert float(t.loc["sex, n (%)", "P-Value"].iloc[0]) == pytest.approx(chi.pvalue, abs=1e-3)


def test_conventional_pet_measures_are_compared_with_the_radscore():
    manifest, scores = _study()
    rng = np.random.default_rng(4)
    y = manifest["ndb"].to_numpy()
    features = manifest[["patient_id", "timepoint", "lesion_id", "site"]].assign(
        pet_conventional_SUVmax=5 + y + rng.normal(size=len(y)), pet_conventional_MTV_ml=rng.gamma(2, 5, len(y)),
        pet_tumor_original_firstorder_Mean=rng.normal(size=len(y)))
    metrics = compute_metrics(scores, manifest, config_from_dict({}), {m: 0.0 for m in MODELS}, features)
    conv = metrics["conventional"]
    assert set(conv) == {"training", "testing", "external_tcia"}  # training by its out-of-fold Radscore
    for cohort, rows in conv.items():
        assert {r["measure"] for r in rows} == {"SUVmax", "MTV_ml"}
        ids = manifest.loc[manifest.cohort == cohort, "patient_id"]
        suvmax = next(r for r in rows if r["measure"] == "SUVmax")
        assert suvmax["auc"] == pytest.approx(roc_auc_score(
            manifest.set_index("patient_id").loc[ids, "ndb"], features.set_index("patient_id").loc[ids,
                                                                                               "pet_conventional_SUVmax"]))
        assert 0 <= suvmax["delong_p_value"] <= 1 and suvmax["radscore"] == "comb"
    oof = scores[(scores.model == "comb") & (scores.cohort == "training")]
    assert next(r for r in conv["training"] if r["measure"] == "SUVmax")["radscore_auc"] == pytest.approx(
        roc_auc_score(manifest.set_index("patient_id").loc[oof.patient_id, "ndb"], oof["radscore_oof"]))


def test_radscore_by_recist_category_per_cohort():
    from radscore.pipeline.evaluate import discrimination_section

    manifest, scores = _study()
    rng = np.random.default_rng(5)
    manifest["recist"] = np.where(manifest["ndb"] == 1, "PD", rng.choice(["CR", "PR", "SD"], len(manifest)))
    cfg = config_from_dict({})
    section = discrimination_section(scores, manifest, cfg, compute_metrics(scores, manifest, cfg,
                                                                          {m: 0.0 for m in MODELS}))
    assert {"recist_training_oof", "recist_testing", "recist_external_tcia"} <= set(section.figures)
    assert "recist_training_apparent" not in section.figures  # in-sample scores are not shown by response
    without = discrimination_section(scores, manifest.drop(columns="recist"), cfg,
                                     compute_metrics(scores, manifest, cfg, {m: 0.0 for m in MODELS}))
    assert not [k for k in without.figures if k.startswith("recist_")]


def test_a_separated_cox_term_is_named_in_the_survival_section(caplog):
    from radscore.pipeline.evaluate import survival_section

    manifest, scores = _study()
    rng = np.random.default_rng(6)
    n = len(manifest)
    manifest["os_months"] = rng.exponential(20, n)
    manifest["os_event"] = rng.integers(0, 2, n)
    manifest["smoker"] = manifest["os_event"].astype(float)  # events only among smokers: separation
    cfg = config_from_dict({"clinical": ["smoker"], "survival": {"pfs_time": None, "pfs_event": None}})
    section = survival_section(scores, manifest, cfg, "comb", 0.0)
    assert any("the hazard ratio of smoker (separation" in n for n in section.tables["not_estimable"]["not estimable"])
    cox = section.tables["cox"]
    flagged = cox.filter(like="separated").fillna(False).any(axis=1)
    assert flagged[cox.covariate == "smoker"].all() and not flagged[cox.covariate == "radscore_group"].any()


def _survival(manifest, scores, **columns):
    from radscore.pipeline.evaluate import survival_metrics, survival_section

    section = survival_section(scores, manifest.assign(**columns), config_from_dict({}), "comb", 0.4)
    return section, survival_metrics(section)


def test_survival_without_its_columns_says_which_are_missing():
    manifest, scores = _study()
    section, metrics = _survival(manifest, scores)
    assert section.skipped.startswith("neither the manifest nor the clinical table has the survival columns")
    assert "PFS (pfs_months, pfs_event)" in section.skipped and "OS (os_months, os_event)" in section.skipped
    assert metrics == {"skipped": section.skipped}


def test_survival_without_events_is_skipped_with_the_reason_not_an_error():
    # a cohort without events made the whole run stop with 'no events among N patients'
    manifest, scores = _study()
    n = len(manifest)
    zeros = {"pfs_months": np.linspace(1, 30, n), "pfs_event": 0, "os_months": np.linspace(1, 30, n), "os_event": 0}
    section, metrics = _survival(manifest, scores, **zeros)
    assert section.skipped.startswith("no endpoint could be tested: log-rank PFS, training (out-of-fold): no events "
                                      "(pfs_event is 0 for all 50 patients)")
    assert "log-rank OS, testing: no events (os_event is 0 for all 20 patients)" in section.skipped
    assert metrics == {"skipped": section.skipped}


def test_survival_names_each_test_it_could_not_run():
    manifest, scores = _study()
    n = len(manifest)
    rng = np.random.default_rng(1)
    given = {"pfs_months": rng.uniform(1, 30, n), "pfs_event": rng.integers(0, 2, n)}
    os_time = np.where(manifest["cohort"] == "testing", np.nan, rng.uniform(1, 30, n))  # OS unknown in testing
    section, metrics = _survival(manifest, scores, **given, os_months=os_time, os_event=rng.integers(0, 2, n))
    assert section.skipped is None
    assert len(metrics["logrank"]) == 5  # PFS in three cohorts, OS in two
    assert metrics["not_estimable"] == ["log-rank OS, testing: 0 patient(s) with both os_months and os_event filled, "
                                        "at least 4 needed"]
    assert list(section.tables["not_estimable"]["not estimable"]) == metrics["not_estimable"]
