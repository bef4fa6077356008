"""``outputs.dicom: true``: a study run writes, for its DICOM-sourced scans, a SEG and an SR that
read back equal to the VOIs features were computed on and to scores.csv; ``predict --dicom-out``."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import yaml

from radscore.cli import main
from radscore.imaging.preprocess import prepare_scan
from radscore.io.rtstruct import read_seg
from radscore.io.scan import scan_refs
from radscore.modeling.artifact import load_model
from radscore.pipeline.context import Study
from radscore.pipeline.run import run_study
from radscore.simulate import write_study
from radscore.simulate.dicom import write_dicom_scan

N_DICOM = 2
CHEAP = {"model": {"cv_folds": 3, "nested_cv_folds": None, "models": ["pet", "comb"],
                   "grid": {"max_depth": [2], "n_estimators": [30], "learning_rate": [0.1]}},
         "features": {"feature_classes": ["shape", "firstorder", "glcm"]},
         "robustness": {"icc_source": "off"}, "outputs": {"dicom": True}}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom_study")
    write_study(folder, 18, seed=5, protocol="quick")
    data = yaml.safe_load((folder / "study.yaml").read_text())
    for key, value in CHEAP.items():
        data.setdefault(key, {}).update(value)
    (folder / "study.yaml").write_text(yaml.safe_dump(data))
    man = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    rows = man.index[(man["timepoint"] == "baseline") & (man["lesion_id"] == "1")][:N_DICOM]
    for k, i in enumerate(rows):  # these scans arrive as DICOM series, the rest stay NIfTI
        ct_dir, pet_dir = write_dicom_scan(sitk.ReadImage(str(folder / man.at[i, "ct"])),
                                           sitk.ReadImage(str(folder / man.at[i, "pet"])),
                                           folder / "dicom" / f"scan{k}", uid_seed=f"out{k}",
                                           identifiers={"PatientID": f"SRC{k}"})
        man.loc[i, ["ct", "pet"]] = [str(ct_dir.relative_to(folder)), str(pet_dir.relative_to(folder))]
    man.to_csv(folder / "manifest.csv", index=False)
    run_study(folder, workers=2)
    return folder


@pytest.mark.slow
def test_run_writes_seg_and_sr_that_read_back_equal(study):
    st = Study.open(study)
    index = pd.read_csv(st.dicom_dir / "index.csv", dtype=str, keep_default_na=False)
    man = st.manifest()
    assert len(index) == len(man)
    written = index[index["status"] == "written"]
    assert len(written) == N_DICOM
    skipped = index[index["status"] == "skipped"]
    assert len(skipped) == len(man) - N_DICOM and skipped["reason"].str.contains("not a DICOM series").all()
    scores = pd.read_csv(st.scores_path, dtype={"patient_id": str, "lesion_id": str}, float_precision="round_trip")
    features = pd.read_parquet(st.features_path)
    refs = {r.key: r for r in scan_refs(man)}
    cfg = st.config.for_manifest(man)
    for row in written.to_dict("records"):
        key = f"{row['patient_id']}/{row['timepoint']}/{row['lesion_id']}"
        prepared = prepare_scan(refs[key], cfg.scan)  # the VOIs the features were computed on
        grid = prepared.images["ct"]
        seg_path, sr_path = st.dicom_dir / row["seg"], st.dicom_dir / row["sr"]
        for voi, mask in prepared.vois.items():
            np.testing.assert_array_equal(sitk.GetArrayFromImage(read_seg(seg_path, voi, grid)).astype(bool), mask)
        seg = pydicom.dcmread(seg_path)
        ct0 = pydicom.dcmread(next((study / refs[key].ct).glob("*.dcm")), stop_before_pixels=True)
        assert seg.FrameOfReferenceUID == ct0.FrameOfReferenceUID and seg.PatientID == ct0.PatientID
        sr = hd.sr.srread(sr_path)
        found = {}
        for g in sr.content.get_volumetric_roi_measurement_groups():
            model, voi = str(g.tracking_identifier).split(" ")
            assert g.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID
            for m in g.get_measurements():
                found[(model, voi, m.name.value, m.name.meaning)] = m.value
        mine = scores[(scores["patient_id"] == row["patient_id"]) & (scores["timepoint"] == row["timepoint"])
                      & (scores["lesion_id"] == row["lesion_id"])]
        assert set(mine["model"]) == {"pet", "comb"}
        frow = features[(features["patient_id"] == row["patient_id"]) & (features["timepoint"] == row["timepoint"])
                        & (features["lesion_id"] == row["lesion_id"])].iloc[0]
        for name, radscore in zip(mine["model"], mine["radscore"]):
            assert found[(name, "tumor", "RADSCORE", "Radscore")] == radscore  # FloatingPointValue: every bit
            model = load_model(st.models_dir / name)
            n_measured = sum(1 for k in found if k[0] == name and k[2] != "RADSCORE")
            assert n_measured == sum(np.isfinite(frow[f]) for f in model.features)
            values = sorted(v for k, v in found.items() if k[0] == name and k[2] != "RADSCORE")
            assert values == sorted(float(frow[f]) for f in model.features if np.isfinite(frow[f]))
    # no DICOM identifier reaches the run's own tables and logs
    assert not (st.dicom_dir / "index.csv").read_text().count("SRC0")
    assert "dicom_outputs" in (study / "provenance.json").read_text()


@pytest.mark.slow
def test_predict_dicom_out(study, tmp_path, capsys):
    man = pd.read_csv(study / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    dicom_row = man[man["ct"].str.startswith("dicom")].iloc[0]
    nifti_row = man[~man["ct"].str.startswith("dicom")].iloc[0]
    sub = pd.DataFrame([dicom_row, nifti_row])[["patient_id", "timepoint", "lesion_id", "ct", "pet", "mask"]]
    for c in ("ct", "pet", "mask"):
        sub[c] = [str(study / v) for v in sub[c]]
    sub.to_csv(tmp_path / "scans.csv", index=False)
    out = tmp_path / "dicom"
    assert main(["-q", "predict", str(study / "models" / "comb"), "--manifest", str(tmp_path / "scans.csv"),
                 "--json", "--dicom-out", str(out)]) == 0
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    radscore = {r["patient_id"]: r["radscore"] for r in map(__import__("json").loads, printed)}
    index = pd.read_csv(out / "index.csv", dtype=str, keep_default_na=False)
    assert list(index["status"]) == ["written", "skipped"]
    sr = hd.sr.srread(out / index.at[0, "sr"])
    (group,) = [g for g in sr.content.get_volumetric_roi_measurement_groups() if str(g.tracking_identifier) == "comb tumor"]
    (value,) = [m.value for m in group.get_measurements() if m.name.value == "RADSCORE"]
    assert value == pytest.approx(radscore[dicom_row["patient_id"]], rel=1e-15)
