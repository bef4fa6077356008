"""End to end: a small simulated mCRC study (PROTOCOL B1-B5) through every stage."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from radscore.io.scan import ScanRef
from radscore.pipeline.predict import predict_scans
from radscore.pipeline.run import run_study
from radscore.simulate import write_mcrc_study
from radscore.stats import roc_auc_ci

pytestmark = pytest.mark.slow

SIZES = (40, 20, 20, 20)


@pytest.fixture(scope="module")
def mcrc(tmp_path_factory):
    pytest.importorskip("gseapy", reason="the TME phenotype from RNA-seq needs the 'tme' extra (gseapy)")
    folder = tmp_path_factory.mktemp("mcrc")
    write_mcrc_study(folder, SIZES, seed=5, workers=2)
    path = folder / "study.yaml"
    data = yaml.safe_load(path.read_text())
    data["analyses"]["deep"]["epochs"] = 3  # the autoencoder has its own tests; here it only has to run
    path.write_text(yaml.safe_dump(data))
    return folder, run_study(folder, workers=2)


def test_phenotype_is_the_endpoint_fitted_on_training_and_response_cohort_has_none(mcrc):
    folder, metrics = mcrc
    assert metrics["endpoint"] == "tme_hot" and metrics["positive_class"] == "hot"
    tme = metrics["models"]["tme"]["cohorts"]
    # the phenotype cohorts are evaluated (training out-of-fold and apparent); the response cohort is not
    assert {"training_apparent", "training_oof", "internal", "external_1"} == set(tme)
    prov = json.loads((folder / "provenance.json").read_text())
    step = next(s for s in prov["stages"] if s["name"] == "phenotype")
    assert step["result"]["training_patients"] == SIZES[0]
    assert step["result"]["by_cohort"]["external_2"] == {}


def test_rad_score_metrics_equal_the_reference_auc_and_response_is_evaluated(mcrc):
    folder, metrics = mcrc
    scores = pd.read_csv(folder / "scores.csv", dtype={"patient_id": str})
    manifest = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str})
    clinical = pd.read_csv(folder / "clinical.csv", dtype={"patient_id": str})
    assert set(scores["model"]) == {"tme"}
    resp = metrics["response"]["models"]["tme"]["cohorts"]
    assert "external_2" in resp
    s = scores[scores["cohort"] == "external_2"].set_index("patient_id")["radscore"]
    y = manifest.merge(clinical, on="patient_id", how="left", suffixes=("", "_c")).set_index("patient_id")
    y = y.loc[s.index, "response"].astype(int)
    ref = roc_auc_ci(y.to_numpy(), s.to_numpy())
    assert resp["external_2"]["auc"] == pytest.approx(ref.auc, abs=1e-12)
    assert resp["external_2"]["auc_ci_low"] == pytest.approx(ref.ci_low, abs=1e-12)
    for key in ("sensitivity", "specificity", "ppv", "npv", "mcc", "kappa"):
        assert key in resp["external_2"]["at_cutoff"]
    # the cutoff is the training median of the Rad-Score (the seed's high/low split)
    train = scores[scores["cohort"] == "training"]["radscore"]
    assert metrics["models"]["tme"]["cutoff"] == pytest.approx(float(np.median(train)))


def test_forest_artifact_loads_without_code_and_predict_equals_the_study_score(mcrc):
    # the forest selected deep features: predict cuts the crops and runs the stored encoder
    folder, _ = mcrc
    model_dir = folder / "models" / "tme"
    manifest_json = json.loads((model_dir / "manifest.json").read_text())
    assert (model_dir / "forest.json").is_file() and not list(model_dir.glob("*.pkl"))
    assert not list(model_dir.glob("*.pt"))
    assert manifest_json["training"]["model"]["type"] == "random_forest"
    deep = {f.split("_")[1] for f in manifest_json["selected_features"] if f.startswith("deep_")}
    assert deep, manifest_json["selected_features"]
    assert {"encoder.json", *(f"encoder_{m}.npz" for m in deep)} <= set(manifest_json["files"])
    man = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str})
    scores = pd.read_csv(folder / "scores.csv", dtype={"patient_id": str}, float_precision="round_trip")
    rows = pd.concat([man[man["cohort"].isin(["internal", "external_2"])].head(2),
                      man[man["cohort"] == "training"].head(1)])
    refs = [ScanRef(r.patient_id, ct=str(folder / r.ct), pet=str(folder / r.pet), mask=str(folder / r.mask))
            for r in rows.itertuples()]
    out = predict_scans(model_dir, refs).set_index("patient_id")
    assert not out["error"].any(), out["error"].tolist()
    expected = scores.set_index("patient_id").loc[rows["patient_id"], "radscore"]
    np.testing.assert_allclose(out.loc[rows["patient_id"], "radscore"].to_numpy(float), expected.to_numpy(), rtol=0,
                               atol=1e-12)


def test_report_has_the_study_b_parts(mcrc):
    folder, _ = mcrc
    html = (folder / "report.html").read_text()
    for text in ("TME Rad-Score and immunotherapy response", "TME phenotype", "Immunoscore", "Nomogram for OS",
                 "CD3 x CD8", "Bindea"):
        assert text in html, text


def test_metrics_json_carries_the_study_b_analyses(mcrc):
    folder, metrics = mcrc
    saved = json.loads((folder / "metrics.json").read_text())
    comparison = pd.DataFrame(saved["analyses"]["tme"]["classifier_comparison"])
    assert set(comparison["model"]) == {"adaboost", "gaussian_nb", "gaussian_process", "gradient_boosting", "knn",
                                        "logistic_regression", "random_forest"}
    assert {"cox", "time_dependent_auc_internal"} <= set(saved["analyses"]["nomogram_os"])
    assert "radscore_by_group" in saved["analyses"]["immunoscore"]


def test_page_scores_the_deep_model_as_the_study(mcrc):
    # the page prepares the upload itself (prepare_scan with the model's crop size), then the same scorer
    pytest.importorskip("fastapi", reason="the page needs the 'web' extra")
    from fastapi.testclient import TestClient

    from radscore.web import ServerSettings, create_app

    folder, _ = mcrc
    man = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str})
    scores = pd.read_csv(folder / "scores.csv", dtype={"patient_id": str}, float_precision="round_trip")
    row = man[man["cohort"] == "external_2"].iloc[0]
    client = TestClient(create_app(folder / "models" / "tme", ServerSettings()))
    files = {k: ((folder / row[k]).name, (folder / row[k]).read_bytes()) for k in ("ct", "pet", "mask")}
    r = client.post("/api/predict", files=files, data={"patient_id": row["patient_id"]})
    assert r.status_code == 200, r.text
    expected = scores.set_index("patient_id").loc[row["patient_id"], "radscore"]
    assert r.json()["scans"][0]["radscore"] == pytest.approx(expected, rel=0, abs=1e-12)
