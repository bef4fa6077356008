"""Messages (issue 18, item 6): what radscore says when something is wrong, and where it says it.

Each test holds one defect a user reported: ``validate`` passing a manifest whose files are
missing, the patient named twice, ITK's warnings on stderr, outputs of mode 0600, folders
created for a mistyped ``--out``, options without help. The studies here are a dozen tiny
CT-only scans written by the test (seconds), not the shared simulated study.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import yaml

from radscore.cli import build_parser, main

SRC = Path(__file__).resolve().parents[2] / "src"


def _image(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(path))
    return path


def _mask() -> np.ndarray:
    mask = np.zeros((24, 28, 28), np.uint8)
    mask[6:18, 8:20, 8:20] = 1
    return mask


def tiny_study(folder: Path, n: int = 12) -> Path:
    """``n`` CT-only scans (24 x 28 x 28 voxels, a 12-voxel cube tumour), alternate outcomes, cheap settings."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        pid = f"B{i + 1:02d}"
        _image(folder / "images" / f"{pid}_ct.nii.gz", rng.normal(40 + 10 * (i % 2), 20, _mask().shape).astype(np.float32))
        _image(folder / "images" / f"{pid}_mask.nii.gz", _mask())
        rows.append({"patient_id": pid, "timepoint": "baseline", "ct": f"images/{pid}_ct.nii.gz",
                     "mask": f"images/{pid}_mask.nii.gz", "ndb": i % 2})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    (folder / "study.yaml").write_text(yaml.safe_dump({
        "protocol": "quick", "modalities": ["ct"], "features": {"feature_classes": ["firstorder"]},
        "pet_measures": {"enabled": False}, "robustness": {"icc_source": "off"},
        "model": {"cv_folds": 3, "grid": {"max_depth": [2], "n_estimators": [20], "learning_rate": [0.1]},
                  "models": ["ct"], "nested_cv_folds": None},
        "analyses": {"deep": {"enabled": False}}}))
    return folder


def _edit_manifest(folder: Path, edit) -> None:
    man = pd.read_csv(folder / "manifest.csv", dtype=str)
    edit(man)
    man.to_csv(folder / "manifest.csv", index=False)


# ---- 1: validate checks every file; run says how many scans it excluded -------------------------

def test_validate_lists_every_row_whose_files_cannot_be_used(tmp_path, capsys):
    study = tiny_study(tmp_path / "study", n=8)
    (study / "images" / "notes.nii.gz").write_text("not an image")

    def edit(m):
        m["mask_2"] = None
        m.loc[1, "ct"] = None  # empty cell
        m.loc[2, "ct"] = "images/gone.nii.gz"
        m.loc[3, "mask"] = "images/notes.nii.gz"
        m.loc[4, "mask_2"] = "images/gone_2.nii.gz"
    _edit_manifest(study, edit)
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    assert "4 file problem(s)" in err
    assert "patient B02 (baseline, lesion 1): ct: no file given; the study uses CT." in err
    assert f"patient B03 (baseline, lesion 1): ct {study / 'images' / 'gone.nii.gz'}: file not found." in err
    assert f"patient B04 (baseline, lesion 1): mask {study / 'images' / 'notes.nii.gz'}: " in err
    assert f"patient B05 (baseline, lesion 1): mask_2 {study / 'images' / 'gone_2.nii.gz'}: file not found." in err
    assert not any(f"patient B0{i}" in err for i in (1, 6, 7, 8))


def test_validate_says_ok_for_a_sound_study(tmp_path, capsys):
    study = tiny_study(tmp_path / "study", n=4)
    assert main(["validate", str(study)]) == 0
    assert capsys.readouterr().out.startswith("ok: 4 patients, 4 scans, CT; every file the manifest names opens")


@pytest.mark.slow
def test_run_with_too_few_patients_left_says_how_many_scans_were_excluded(tmp_path, capsys):
    study = tiny_study(tmp_path / "study")

    def edit(m):
        m.loc[2:, "ct"] = [f"images/gone_{i}.nii.gz" for i in range(2, len(m))]
    _edit_manifest(study, edit)
    assert main(["-q", "run", str(study), "--workers", "1"]) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "only 2 training patients" in err
    assert "10 of 12 scans were excluded before modelling" in err and str(study / "qc.csv") in err
    qc = pd.read_csv(study / "qc.csv")
    assert (qc["severity"] == "excluded").sum() == 10


# ---- 6 and 9: a finished run says why survival was skipped; its outputs honour the umask --------

@pytest.mark.slow
def test_a_run_says_why_survival_was_skipped_and_writes_outputs_by_the_umask(tmp_path, caplog):
    import json

    study = tiny_study(tmp_path / "study")
    caplog.set_level(logging.WARNING)
    old = os.umask(0o022)
    try:
        assert main(["-q", "run", str(study), "--workers", "1"]) == 0
    finally:
        os.umask(old)
    why = json.loads((study / "metrics.json").read_text())["survival"]["skipped"]
    assert "survival columns study.yaml names: PFS (pfs_months, pfs_event)" in why
    assert why in (study / "report.html").read_text()
    assert any(f"survival analysis skipped: {why}" == r.getMessage() for r in caplog.records)
    outputs = [study / n for n in ("metrics.json", "report.html", "scores.csv", "qc.csv", "features.parquet")]
    outputs += sorted((study / "models").rglob("*.*"))
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in outputs} == {p.name: "0o644" for p in outputs}


# ---- 4: the label of a mask with several labels --------------------------------------------------

def _two_label_mask(path: Path) -> Path:
    mask = _mask()
    mask[6:18, 8:14, 8:20] = 2
    return _image(path, mask)


def test_the_several_labels_fix_names_what_radscore_reads(tmp_path):
    from radscore.errors import ImageError
    from radscore.io.images import load_mask

    with pytest.raises(ImageError) as err:
        load_mask(_two_label_mask(tmp_path / "m.nii.gz"), patient="B01")
    assert "manifest column mask_label" in err.value.fix and "radscore extract --label" in err.value.fix


def test_mask_label_in_the_manifest_is_honoured(tmp_path):
    from radscore.io.manifest import read_manifest
    from radscore.io.scan import load_scan, scan_refs

    study = tiny_study(tmp_path / "study", n=2)
    _two_label_mask(study / "images" / "B01_mask.nii.gz")
    _edit_manifest(study, lambda m: m.__setitem__("mask_label", ["2", None]))
    ref = scan_refs(read_manifest(study / "manifest.csv"))[0]
    assert ref.mask_label == 2
    mask = sitk.GetArrayFromImage(load_scan(ref).mask)
    assert mask.sum() == 12 * 6 * 12  # the label-2 half of the cube only


def test_a_mask_label_that_is_not_a_label_is_refused(tmp_path):
    from radscore.errors import ManifestError
    from radscore.io.manifest import read_manifest

    study = tiny_study(tmp_path / "study", n=2)
    _edit_manifest(study, lambda m: m.__setitem__("mask_label", ["two", None]))
    with pytest.raises(ManifestError, match=r"mask_label.*\['B01'\] have \['two'\]"):
        read_manifest(study / "manifest.csv")


def test_validate_warns_that_a_label_column_is_not_read(tmp_path, capsys):
    study = tiny_study(tmp_path / "study", n=2)
    _edit_manifest(study, lambda m: m.__setitem__("label", ["2", "2"]))
    assert main(["validate", str(study)]) == 0
    assert "column 'label' is not read" in capsys.readouterr().err


# ---- 5: radscore suv names the option it reads ---------------------------------------------------

def _pet_dicom(folder: Path, edit) -> Path:
    from radscore.simulate.dicom import write_dicom_scan

    ct = sitk.GetImageFromArray(np.zeros((8, 16, 16), np.float32))
    pet = sitk.GetImageFromArray(np.full((8, 16, 16), 2.0, np.float32))
    _, pet_dir = write_dicom_scan(ct, pet, folder, uid_seed="msg")
    for f in sorted(pet_dir.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        edit(ds)
        ds.save_as(f)
    return pet_dir


@pytest.mark.parametrize("tag, option", [("PatientWeight", "--weight-kg"), ("RadionuclideTotalDose", "--dose-mbq")])
def test_suv_without_a_weight_or_dose_tag_suggests_its_own_option(tmp_path, capsys, tag, option):
    def edit(ds):
        if tag == "PatientWeight":
            del ds.PatientWeight
        else:
            del ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose
    pet_dir = _pet_dicom(tmp_path / "dicom", edit)
    out = tmp_path / "suv.nii.gz"
    assert main(["suv", str(pet_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"Fix: pass {option}" in err and "manifest" not in err
    value = "75" if tag == "PatientWeight" else "350"
    assert main(["suv", str(pet_dir), "--out", str(out), option, value]) == 0
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert np.allclose(arr, 2.0, rtol=1e-3)


# ---- 7: the patient is named once ----------------------------------------------------------------

def test_describe_names_the_patient_once():
    from radscore.errors import ImageError, describe

    err = ImageError("CT image file not found.", patient="B01", file="ct.nii.gz")
    assert describe(err, patient="B01", scan="baseline, lesion 1") == \
        "patient B01 (baseline, lesion 1): ct.nii.gz: CT image file not found."
    assert describe(ImageError("empty."), patient="B01") == "patient B01: empty."
    assert describe(KeyError("x"), patient="B01").startswith("patient B01: unexpected error KeyError")


def test_an_excluded_scan_names_its_patient_once(tmp_path, caplog):
    study = tiny_study(tmp_path / "study", n=1)
    caplog.set_level(logging.WARNING)
    code = main(["extract", "--ct", str(study / "images" / "B01_ct.nii.gz"), "--pet", str(tmp_path / "gone.nii.gz"),
                 "--mask", str(study / "images" / "B01_mask.nii.gz"), "--patient-id", "B01",
                 "--out", str(tmp_path / "f.csv")])
    assert code == 2
    lines = [r.getMessage() for r in caplog.records if "B01" in r.getMessage()]
    assert lines and all(line.count("patient B01") == 1 for line in lines), lines
    assert any(line.startswith("patient B01 (baseline, lesion 1): ") for line in lines), lines


# ---- 8: ITK's warnings stay off stderr -----------------------------------------------------------

@pytest.mark.slow
def test_itk_warnings_do_not_reach_stderr(tmp_path):
    from radscore.simulate.dicom import write_dicom_scan

    ct = sitk.GetImageFromArray(np.random.default_rng(0).normal(40, 20, _mask().shape).astype(np.float32))
    ct_dir, _ = write_dicom_scan(ct, ct, tmp_path / "dicom", uid_seed="itk")
    # one slice 0.05 mm off its place: ITK warns "Non uniform sampling" on stderr
    f = sorted(ct_dir.glob("*.dcm"))[5]
    ds = pydicom.dcmread(f)
    ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], float(ds.ImagePositionPatient[2]) + 0.05]
    ds.save_as(f)
    mask = _image(tmp_path / "mask.nii.gz", _mask())
    env = {**os.environ, "PYTHONPATH": str(SRC), "RADSCORE_QUIET": "1"}
    res = subprocess.run([sys.executable, "-m", "radscore", "-q", "extract", "--image", str(ct_dir), "--mask",
                          str(mask), "--out", str(tmp_path / "f.csv")], capture_output=True, text=True, env=env,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert "WARNING: In" not in res.stderr
    # what mattered in ITK's warning is said in radscore's words
    assert "slice spacing varies by up to 0.05 mm around 1.00 mm" in res.stderr


# ---- 9: outputs honour the umask -----------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    from radscore.runtime.files import atomic_write_csv, atomic_write_text

    old = os.umask(umask)
    try:
        text = atomic_write_text(tmp_path / "a.txt", "x")
        table = atomic_write_csv(tmp_path / "sub" / "t.csv", pd.DataFrame({"a": [1]}))
    finally:
        os.umask(old)
    assert stat.S_IMODE(text.stat().st_mode) == mode
    assert stat.S_IMODE(table.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---- 10: a single output file goes into an existing folder ---------------------------------------

@pytest.mark.parametrize("argv", [
    ["extract", "--image", "ct.nii.gz", "--mask", "m.nii.gz", "--out", "{out}"],
    ["suv", "pet_dir", "--out", "{out}"],
    ["segment", "pet.nii.gz", "--threshold", "41", "--seed-mm", "0", "0", "0", "--out", "{out}"],
    ["rtstruct", "rs.dcm", "--roi", "GTV", "--image", "ct_dir", "--out", "{out}"],
])
def test_out_in_a_missing_folder_is_an_error_naming_it(tmp_path, capsys, argv):
    missing = tmp_path / "missing" / "dir"
    argv = [a.replace("{out}", str(missing / "x.out")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {missing}: the folder of --out does not exist." in err
    assert not (tmp_path / "missing").exists()


def test_the_help_says_which_outputs_are_created():
    parser = build_parser()
    assert "must go into an existing folder" in parser.format_help()
    extract = _subparsers(parser)["extract"]
    out = next(a for a in extract._actions if "--out" in a.option_strings)
    assert "its folder must exist" in out.help


# ---- 11: every option has help -------------------------------------------------------------------

def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    missing = []
    for name, p in [("radscore", parser), *_subparsers(parser).items()]:
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
