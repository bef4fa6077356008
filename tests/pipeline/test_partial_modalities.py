"""A study whose manifest has PET only (or CT only) runs the Radscores it can and says which it skipped."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from radscore.cli import main
from radscore.config import StudyConfig
from radscore.errors import ImageError
from radscore.imaging.preprocess import prepare_scan
from radscore.io.scan import ScanRef
from radscore.pipeline.predict import predict_scans
from radscore.pipeline.run import run_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def one_modality(small_study, tmp_path_factory):
    """``one_modality("pet")``: the session's small study (its inputs) with the CT column dropped, run once."""
    runs = {}

    def run(keep: str):
        if keep not in runs:
            folder = tmp_path_factory.mktemp(f"{keep}_only") / "study"
            shutil.copytree(small_study, folder, ignore=shutil.ignore_patterns(
                ".radscore", "models", "tables", "figures", "*.parquet", "scores.csv", "*.json", "*.html", "qc.csv"))
            manifest = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str})
            manifest.drop(columns=["ct" if keep == "pet" else "pet"]).to_csv(folder / "manifest.csv", index=False)
            runs[keep] = folder, run_study(folder, workers=2)
        return runs[keep]
    return run


@pytest.mark.parametrize("keep, lacking", [("pet", "CT"), ("ct", "PET")])
def test_a_one_modality_study_runs_its_radscore_and_names_the_others(one_modality, keep, lacking):
    folder, metrics = one_modality(keep)
    features = pd.read_parquet(folder / "features.parquet")
    images = {c.split("_")[0] for c in features.columns if c not in ("patient_id", "timepoint", "lesion_id", "site")}
    assert images == {keep}  # no fused image without both modalities
    assert (any(c.startswith("pet_conventional_") for c in features.columns)) == (keep == "pet")
    scores = pd.read_csv(folder / "scores.csv", dtype={"patient_id": str})
    assert set(scores["model"]) == {keep} and set(metrics["models"]) == {keep}
    skipped = metrics["skipped_models"]
    assert set(skipped) == {"pet", "ct", "petct", "comb"} - {keep}
    assert all(f"no {lacking}" in why for why in skipped.values()), skipped
    assert metrics["models"][keep]["cohorts"]["testing"]["auc"] is not None
    report = (folder / "report.html").read_text()
    assert "Not run: COMB-Radscore needs PET and CT" in report and f"{keep.upper()} only" in report
    prov = json.loads((folder / "provenance.json").read_text())
    report_step = next(s for s in prov["stages"] if s["name"] == "report")
    assert report_step["result"]["sections"]["deep_features"].startswith("the encoder reads PET and CT crops")
    steps = {s["name"] for scan in prov["scans"] for s in scan["steps"]}
    assert not {"register", "fuse"} & steps and "vois" in steps


def test_a_pet_only_model_scores_a_scan_from_its_pet_alone(small_study, one_modality):
    folder, _ = one_modality("pet")
    scores = pd.read_csv(folder / "scores.csv", dtype={"patient_id": str, "lesion_id": str},
                         float_precision="round_trip")
    full = pd.read_csv(small_study / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    r = full[full["timepoint"] == "baseline"].iloc[0]
    expected = scores[(scores.patient_id == r.patient_id) & (scores.timepoint == "baseline")
                      & (scores.lesion_id == r.lesion_id)]["radscore"].iloc[0]
    ref = ScanRef(r.patient_id, ct=str(small_study / r.ct), pet=str(small_study / r.pet),
                  mask=str(small_study / r["mask"]))
    # the full scan (with its CT) scores the same: the PET-only model does not read the CT
    out = predict_scans(folder / "models" / "pet", [ref])
    assert not out["error"].any(), out["error"].tolist()
    assert out["radscore"].iloc[0] == pytest.approx(expected, abs=1e-9)
    # the command line takes --pet and --mask alone
    assert main(["predict", str(folder / "models" / "pet"), "--pet", ref.pet, "--mask", ref.mask]) == 0
    # a PET/CT model refuses a scan without its CT, naming what is missing
    with pytest.raises(ImageError, match="no CT image; the study uses PET and CT"):
        prepare_scan(replace(ref, ct=None), StudyConfig().scan)


def test_an_unusable_model_list_is_refused_clearly():
    from radscore.errors import DataError
    from radscore.pipeline.model import model_plan

    cfg = StudyConfig(modalities=["ct"], model={"models": ["pet", "comb"]})
    with pytest.raises(DataError, match="can run on CT alone"):
        model_plan(cfg)
    run, skipped = model_plan(StudyConfig(modalities=["ct"]))
    assert run == ["ct"] and set(skipped) == {"pet", "petct", "comb"}
    assert np.all([s.startswith(t) for s, t in zip(skipped.values(), ("PET-Radscore", "PET/CT", "COMB"))])


def test_validate_names_the_modalities_and_the_rows_without_an_image(small_study, tmp_path, capsys):
    folder = tmp_path / "study"
    shutil.copytree(small_study, folder, ignore=shutil.ignore_patterns(".radscore", "models", "tables", "figures"))
    manifest = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str})
    manifest.drop(columns=["pet"]).to_csv(folder / "manifest.csv", index=False)
    assert main(["validate", str(folder)]) == 0
    assert ", CT;" in capsys.readouterr().out
    manifest.loc[0, "ct"] = None  # a PET/CT study with one row lacking its CT: an error naming the row
    manifest.to_csv(folder / "manifest.csv", index=False)
    assert main(["validate", str(folder)]) == 2
    row = manifest.iloc[0]
    assert (f"patient {row['patient_id']} (baseline, lesion {row['lesion_id']}): ct: no file given; the study uses "
            "PET and CT.") in capsys.readouterr().err
