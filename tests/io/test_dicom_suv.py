"""SUV conversion against outside references: the 17 SUV DROs and the real STS_001 FDG PET."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radscore.errors import ImageError
from radscore.io.dicom import read_pet_suv
from radscore.io.rtstruct import read_rtstruct

DRO_IDS = ["DRO_0_0", "DRO_1_0", "DRO_2_0", "DRO_2_1", "DRO_2_2", "DRO_2_3", "DRO_2_4", "DRO_2_5", "DRO_3_0",
           "DRO_3_1", "DRO_3_2", "DRO_3_3", "DRO_3_4", "DRO_4_0", "DRO_4_1", "DRO_4_2", "DRO_5_0"]


def _dro_expected(reference_dir, dro):
    with open(reference_dir / "pet" / "suv_dro" / "DRO" / "DRO_list.csv", newline="", encoding="utf-8") as fh:
        rows = {r["ID"]: r for r in csv.DictReader(fh)}
    r = rows[dro]
    return r["Description"], [float(r["SUVmin_expected"]), float(r["SUVmed_expected"]), float(r["SUVmax_expected"])]


def test_dro_list_is_the_17_we_test(reference_dir):
    with open(reference_dir / "pet" / "suv_dro" / "DRO" / "DRO_list.csv", newline="", encoding="utf-8") as fh:
        assert sorted(r["ID"] for r in csv.DictReader(fh)) == DRO_IDS


@pytest.mark.parametrize("dro", DRO_IDS)
def test_dro_suv_min_median_max(reference_dir, dro):
    """SUVbw inside the DRO mask equals the expected 0.20 / 1.00 / 4.00.

    The expected values are printed to 2 decimals, so the tolerance is half a unit of
    the last digit (0.005) plus half the quantum the object stores its values with
    (RescaleSlope x our factor): DRO_2_3 holds SUVbsa in steps of 0.01, which become
    steps of 0.038 SUVbw, so no conversion can land nearer than that.
    """
    folder = reference_dir / "pet" / "suv_dro" / "DRO" / dro
    description, expected = _dro_expected(reference_dir, dro)
    img, factor = read_pet_suv(folder / "PT", patient=dro)
    mask = sitk.ReadImage(str(folder / "mask" / "DRO_mask.nii.gz"))
    assert mask.GetSize() == img.GetSize()
    np.testing.assert_allclose(mask.GetOrigin(), img.GetOrigin(), atol=1e-3)
    values = sitk.GetArrayFromImage(img)[sitk.GetArrayFromImage(mask) > 0]
    ours = [float(values.min()), float(np.median(values)), float(values.max())]
    slope = float(pydicom.dcmread(next((folder / "PT").iterdir()), stop_before_pixels=True).get("RescaleSlope", 1.0))
    tol = 0.005 + 0.5 * slope * max(factor.per_slice)
    for name, o, e in zip(("min", "median", "max"), ours, expected):
        assert abs(o - e) <= tol, f"{dro} ({description}): SUV{name} {o:.4f}, expected {e:.2f} +- {tol:.4f}"


def _sts(reference_dir):
    base = reference_dir / "pet" / "sts_001_raw_fdg_pet"
    return base, json.loads((base / "expected.json").read_text())




def _gtv(base, img):
    mask = read_rtstruct(base / "mask" / "1-1.dcm", "GTV_Mass", img, patient="STS_001")
    return sitk.GetArrayFromImage(mask) > 0


@pytest.mark.parametrize("method,key,scale", [
    ("bw", "body_weight (SUVbw)", 1.0),
    ("lbm", "lean_body_mass", 1.0),
    ("lbm_janma", "lean_body_mass_bmi", 1.0),
    ("ibw", "ideal_body_weight", 1.0),
    # MIRP's body_surface_area is 1/10 of SUVbsa in DICOM's CM2ML unit (cm^2/ml) that we
    # return: its BSA normaliser is m^2 x 1000 where cm^2 is m^2 x 10000.
    ("bsa", "body_surface_area", 0.1),
])
def test_sts_001_suv_ranges(reference_dir, method, key, scale):
    base, expected = _sts(reference_dir)
    img, factor = read_pet_suv(base / "image", patient="STS_001", method=method)
    values = sitk.GetArrayFromImage(img)[_gtv(base, img)] * scale
    exp = expected["expected_from_mirp_tests"][key]
    assert exp["max"][0] < values.max() < exp["max"][1], (method, values.max(), exp["max"])
    assert exp["min"][0] < values.min() < exp["min"][1], (method, values.min(), exp["min"])


def test_sts_001_factor_and_activity_at_injection(reference_dir):
    base, expected = _sts(reference_dir)
    img, factor = read_pet_suv(base / "image", patient="STS_001")
    check = expected["suvbw_formula_check"]
    assert factor.tags_used["elapsed_s"] == pytest.approx(check["dt_s"])
    np.testing.assert_allclose(factor.per_slice, check["suvbw_factor_g_per_Bq"], rtol=1e-9)
    # MIRP's "none": Bq/ml decay corrected to the injection = SUVbw * dose / weight.
    tags = expected["suv_tags_raw_series"]
    values = sitk.GetArrayFromImage(img)[_gtv(base, img)].astype(np.float64)
    activity = values * tags["RadionuclideTotalDose_Bq"] / (tags["PatientWeight_kg"] * 1000.0)
    exp = expected["expected_from_mirp_tests"]["none (activity decay-corrected to injection time, Bq/ml)"]
    assert exp["max"][0] < activity.max() < exp["max"][1]
    assert exp["min"][0] < activity.min() < exp["min"][1]


# ---- bad input, on copies of a DRO with one tag changed --------------------------------

def _copy_dro(reference_dir, tmp_path, dro="DRO_0_0", edit=None):
    src = reference_dir / "pet" / "suv_dro" / "DRO" / dro / "PT"
    dst = tmp_path / dro
    dst.mkdir()
    for f in sorted(src.iterdir()):
        ds = pydicom.dcmread(f)
        if edit:
            edit(ds)
        ds.save_as(dst / f.name)
    return dst


def test_unconvertible_units_name_the_tag(reference_dir, tmp_path):
    def edit(ds):
        ds.Units = "PROPCNTS"
    folder = _copy_dro(reference_dir, tmp_path, edit=edit)
    with pytest.raises(ImageError, match=r"Units \(0054,1001\) = 'PROPCNTS'") as e:
        read_pet_suv(folder, patient="P1")
    assert e.value.patient == "P1"


def test_cnts_without_philips_factors(reference_dir, tmp_path):
    def edit(ds):
        del ds[0x7053, 0x1000]
    folder = _copy_dro(reference_dir, tmp_path, "DRO_2_4", edit)
    with pytest.raises(ImageError, match=r"\(7053,1000\).*\(7053,1009\)"):
        read_pet_suv(folder)


def test_missing_weight_and_dose_are_errors_the_manifest_can_fix(reference_dir, tmp_path):
    def edit(ds):
        del ds.PatientWeight
        del ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose
    folder = _copy_dro(reference_dir, tmp_path, edit=edit)
    with pytest.raises(ImageError, match="weight_kg"):
        read_pet_suv(folder)
    with pytest.raises(ImageError, match="dose_mbq"):
        read_pet_suv(folder, weight_kg=70.0)
    img, factor = read_pet_suv(folder, weight_kg=70.0, dose_mbq=368.08)
    assert "manifest" in factor.tags_used["weight_kg"] and "manifest" in factor.tags_used["dose_bq"]
    ref, _ = read_pet_suv(reference_dir / "pet" / "suv_dro" / "DRO" / "DRO_0_0" / "PT")
    np.testing.assert_allclose(sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(ref), rtol=1e-6)


def test_missing_decay_correction_and_sex(reference_dir, tmp_path):
    def edit(ds):
        del ds.DecayCorrection
        ds.CorrectedImage = ["ATTN"]
    with pytest.raises(ImageError, match=r"DecayCorrection \(0054,1102\)"):
        read_pet_suv(_copy_dro(reference_dir, tmp_path, edit=edit))
    # DRO_0_0 has PatientSex O: lean body mass needs M or F
    with pytest.raises(ImageError, match=r"PatientSex \(0010,0040\)"):
        read_pet_suv(reference_dir / "pet" / "suv_dro" / "DRO" / "DRO_0_0" / "PT", method="lbm")


def test_missing_slice_is_an_error(reference_dir, tmp_path):
    folder = _copy_dro(reference_dir, tmp_path)
    files = sorted(folder.iterdir())
    files[10].unlink()
    with pytest.raises(ImageError, match="not uniform"):
        read_pet_suv(folder)
    shutil.rmtree(folder)


def test_mixed_units_between_slices(reference_dir, tmp_path):
    count = {"n": 0}

    def edit(ds):
        count["n"] += 1
        if count["n"] == 5:
            ds.Units = "CNTS"
    with pytest.raises(ImageError, match="disagree on Units"):
        read_pet_suv(_copy_dro(reference_dir, tmp_path, edit=edit))
