"""One path: `radscore run`, `predict`, the page and `extract` give the same features for a scan.

The study's masks are DICOM RTSTRUCTs (drawn on the CT) and deep features are on, so the
scan loader's RTSTRUCT path serves the hand-crafted features, the deep features' crops,
the saved model's scoring and the command line alike.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from radscore.features.commands import cmd_extract
from radscore.io.scan import ScanRef
from radscore.pipeline.predict import predict_scans
from radscore.pipeline.run import run_study
from radscore.simulate import write_study
from radscore.simulate.dicom import write_rtstruct

pytestmark = pytest.mark.slow

ROI = "GTV"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rtstruct_study")
    write_study(folder, 24, seed=21, protocol="quick")
    man = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    paths = []
    for i, row in man.iterrows():
        rel = f"rtstruct/{row['patient_id']}_{row['timepoint']}_L{row['lesion_id']}.dcm"
        write_rtstruct(sitk.ReadImage(str(folder / row["mask"])), folder / rel, roi_name=ROI, uid_seed=str(i))
        paths.append(rel)
    man["mask"], man["mask_roi"] = paths, ROI
    man.to_csv(folder / "manifest.csv", index=False)
    cfg = yaml.safe_load((folder / "study.yaml").read_text())
    cfg["model"] = {"cv_folds": 3, "nested_cv_folds": None, "models": ["comb"],
                    "grid": {"max_depth": [2], "n_estimators": [40], "learning_rate": [0.1]}}
    cfg["analyses"]["deep"].update(enabled=True, epochs=2, crop_size=16, latent_size=4)
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg))
    run_study(folder, workers=2)
    return folder, man


def _scan(study):
    folder, man = study
    row = man[(man["timepoint"] == "baseline") & (man["lesion_id"] == "1")].iloc[0]
    ref = ScanRef(row["patient_id"], ct=str(folder / row["ct"]), pet=str(folder / row["pet"]),
                  mask=str(folder / row["mask"]), mask_roi=ROI)
    features = pd.read_parquet(folder / "features.parquet")
    mine = features[(features["patient_id"] == ref.patient_id) & (features["timepoint"] == "baseline")
                    & (features["lesion_id"] == "1")].iloc[0]
    scores = pd.read_csv(folder / "scores.csv", dtype={"patient_id": str, "lesion_id": str})
    score = scores[(scores["patient_id"] == ref.patient_id) & (scores["timepoint"] == "baseline")
                   & (scores["lesion_id"] == "1") & (scores["model"] == "comb")]["radscore"].iloc[0]
    return ref, mine.drop(["patient_id", "timepoint", "lesion_id", "site"]).astype(float), score


def test_the_run_read_the_rtstruct_masks_for_features_and_deep_features(study):
    folder, man = study
    prov = json.loads((folder / "provenance.json").read_text())
    assert len(prov["scans"]) == len(man)
    for scan in prov["scans"]:
        mask = next(s for s in scan["steps"] if s["name"] == "load_mask")
        assert mask["result"]["source"] == "RTSTRUCT" and mask["result"]["roi"] == ROI
    deep = [s for s in prov["stages"] if s["name"] == "report"][0]["result"]["sections"]["deep_features"]
    assert deep == "done", deep
    features = pd.read_parquet(folder / "features.parquet")
    assert len(features) == len(man)


def test_predict_gives_the_runs_features_and_radscore(study):
    folder, _ = study
    ref, features, score = _scan(study)
    row = predict_scans(folder / "models" / "comb", [ref]).iloc[0]
    assert row["error"] is None
    got = pd.Series(row["features"]).reindex(features.index)
    np.testing.assert_array_equal(got.to_numpy(), features.to_numpy())
    assert row["radscore"] == pytest.approx(score, abs=1e-6)


def test_extract_gives_the_runs_features(study, tmp_path):
    folder, _ = study
    ref, features, _ = _scan(study)
    out = tmp_path / "one.csv"
    assert cmd_extract(None, ref.mask, None, out, ct=ref.ct, pet=ref.pet, mask_roi=ROI,
                       config=folder / "study.yaml", patient_id=ref.patient_id) == 0
    row = pd.read_csv(out, float_precision="round_trip").iloc[0]
    assert row["patient_id"] == ref.patient_id
    np.testing.assert_array_equal(row[features.index].to_numpy(dtype=float), features.to_numpy())


def test_the_page_gives_the_runs_radscore(study):
    from fastapi.testclient import TestClient

    from radscore.web.app import create_app

    folder, _ = study
    ref, _, score = _scan(study)
    client = TestClient(create_app(folder / "models" / "comb"))
    files = {role: (f"{role}{'.dcm' if role == 'mask' else '.nii.gz'}", open(getattr(ref, role), "rb"))
             for role in ("ct", "pet", "mask")}
    try:
        r = client.post("/api/predict", files=files, data={"patient_id": ref.patient_id, "mask_roi": ROI})
    finally:
        for _, fh in files.values():
            fh.close()
    assert r.status_code == 200, r.text
    assert r.json()["scans"][0]["radscore"] == pytest.approx(score, abs=1e-6)
