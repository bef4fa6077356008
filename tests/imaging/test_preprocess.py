"""prepare_patient: checks, common grid, VOIs and the provenance steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from radscore.config import StudyConfig
from radscore.errors import ImageError
from radscore.imaging import preprocess


def prepare_patient(ct, pet, mask, cfg, patient=None):
    """The stage with the study's preprocess, voi and fusion settings."""
    return preprocess.prepare_patient(ct, pet, mask, preprocess=cfg.preprocess, voi=cfg.voi, fusion=cfg.fusion,
                                      seed=cfg.seed, patient=patient)


def record(p) -> dict:
    """Step name -> result, JSON round-tripped (the provenance is JSON-able)."""
    return json.loads(json.dumps({s.name: s.result for s in p.steps}))


def _img(arr, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0), dtype=np.float32):
    im = sitk.GetImageFromArray(np.asarray(arr).astype(dtype))
    im.SetSpacing(spacing)
    im.SetOrigin(origin)
    return im


@pytest.fixture
def patient():
    z, y, x = np.mgrid[:30, :64, :64]
    body = (y - 32) ** 2 + (x - 32) ** 2 < 28**2
    tumour = ((z - 15) * 2.0) ** 2 + (y - 32) ** 2 + (x - 32) ** 2 < 9**2
    ct = np.where(body, 40.0, -1000.0)
    ct[tumour] = 60.0
    pet = np.where(body, 1.0, 0.0) + np.where(tumour, 6.0, 0.0)
    return _img(ct), _img(pet[::2, ::2, ::2], spacing=(2.0, 2.0, 4.0)), _img(tumour, dtype=np.uint8), tumour


def test_prepared_patient_is_on_one_grid_with_four_vois(patient):
    ct, pet, mask, tumour = patient
    cfg = StudyConfig()
    p = prepare_patient(ct, pet, mask, cfg, patient="P1")
    grids = {(im.GetSize(), im.GetSpacing(), im.GetOrigin()) for im in p.images.values()}
    assert len(grids) == 1 and set(p.images) == {"ct", "pet", "petct"}
    assert p.images["ct"].GetSpacing() == (1.0, 1.0, 1.0)
    assert set(p.vois) == {"tumor", "core", "ring", "tumor_ring"}
    shape = sitk.GetArrayViewFromImage(p.images["ct"]).shape
    assert all(v.shape == shape and v.dtype == bool for v in p.vois.values())
    vol_ml = p.vois["tumor"].sum() / 1000.0
    assert abs(vol_ml - tumour.sum() * 2.0 / 1000.0) / vol_ml < 0.05
    pet_a = sitk.GetArrayFromImage(p.images["pet"])
    assert pet_a[p.vois["core"]].mean() > 5.0 and abs(np.median(pet_a[p.vois["ring"]]) - 1.0) < 0.3
    rec = record(p)
    assert rec["fuse"]["method"] == "wavelet" and rec["resample"]["image_interpolator"] == "bspline"
    assert rec["vois"]["voxels"]["tumor"] == int(p.vois["tumor"].sum())
    summary = p.summary.set_index("voi")
    assert summary.loc["tumor", "volume_ml"] == pytest.approx(rec["vois"]["volume_ml"]["tumor"], abs=1e-3)


def test_keep_ct_grid_and_weighted_fusion(patient):
    ct, pet, mask, _ = patient
    cfg = StudyConfig.model_validate({"preprocess": {"spacing_mm": None, "image_interpolator": "linear"},
                                      "fusion": {"method": "weighted", "pet_weight": 1.0}})
    p = prepare_patient(ct, pet, mask, cfg)
    assert p.images["ct"].GetSize() == ct.GetSize()
    pet_a = sitk.GetArrayFromImage(p.images["pet"]).astype(np.float64)
    fused = sitk.GetArrayFromImage(p.images["petct"])
    np.testing.assert_allclose(fused, (pet_a - pet_a.min()) / (pet_a.max() - pet_a.min()), atol=1e-5)


def test_empty_mask(patient):
    ct, pet, mask, tumour = patient
    with pytest.raises(ImageError, match="empty") as e:
        prepare_patient(ct, pet, _img(np.zeros_like(tumour), dtype=np.uint8), StudyConfig(), patient="P7")
    assert e.value.patient == "P7"


def test_one_voxel_mask(patient):
    ct, pet, _, tumour = patient
    one = np.zeros_like(tumour)
    one[15, 32, 32] = True
    with pytest.raises(ImageError, match="min_voxels"):
        prepare_patient(ct, pet, _img(one, dtype=np.uint8), StudyConfig())


def test_mask_outside_the_image(patient):
    ct, pet, mask, _ = patient
    far = sitk.Image(mask)
    far.SetOrigin((500.0, 0.0, 0.0))
    with pytest.raises(ImageError, match="mask outside the image"):
        prepare_patient(ct, pet, far, StudyConfig())


def test_mask_on_other_grid_is_resampled_with_a_warning(patient):
    ct, pet, mask, tumour = patient
    shifted = _img(tumour[:, ::2, ::2], spacing=(2.0, 2.0, 2.0), dtype=np.uint8)
    p = prepare_patient(ct, pet, shifted, StudyConfig())
    assert any("nearest neighbour" in w for w in p.warnings)
    assert "tumor" in p.vois


def test_mask_mostly_outside_the_image_is_refused(patient):
    """A mask on another grid half outside the CT (wrong origin) is a QC exclusion, not a warning."""
    ct, pet, mask, tumour = patient
    half_out = _img(tumour, origin=(32.0, 0.0, 0.0), dtype=np.uint8)  # the tumour's box: x 23..41 -> 55..73 of 0..63
    with pytest.raises(ImageError, match="min_mask_overlap"):
        prepare_patient(ct, pet, half_out, StudyConfig())
    cfg = StudyConfig()
    lenient = cfg.model_copy(update={"preprocess": cfg.preprocess.model_copy(update={"min_mask_overlap": 0.4})})
    p = prepare_patient(ct, pet, half_out, lenient)  # asked for: the part inside, with the warning
    assert any("of the mask's box inside the CT" in w for w in p.warnings)


def test_pet_not_overlapping(patient):
    ct, pet, mask, _ = patient
    far = sitk.Image(pet)
    far.SetOrigin((0.0, 0.0, 900.0))
    with pytest.raises(ImageError, match="PET does not overlap"):
        prepare_patient(ct, far, mask, StudyConfig())


def test_small_voi_left_out_with_warning(patient):
    ct, pet, _, _ = patient
    z, y, x = np.mgrid[:30, :64, :64]
    small = ((z - 15) * 2.0) ** 2 + (y - 32) ** 2 + (x - 32) ** 2 < 3.5**2
    p = prepare_patient(ct, pet, _img(small, dtype=np.uint8), StudyConfig())
    assert "core" not in p.vois and "tumor" in p.vois
    assert any("core" in w for w in p.warnings)


def test_crop_to_tumour_keeps_the_vois(patient):
    ct, pet, mask, _ = patient
    full = prepare_patient(ct, pet, mask, StudyConfig())
    cfg = StudyConfig.model_validate({"preprocess": {"crop_margin_mm": 12.0}})
    cropped = prepare_patient(ct, pet, mask, cfg)
    assert cropped.images["ct"].GetNumberOfPixels() < full.images["ct"].GetNumberOfPixels()
    assert record(cropped)["resample"]["crop"]["margin_mm"] == 12.0
    for name in ("tumor", "core", "ring", "tumor_ring"):
        assert cropped.vois[name].sum() == full.vois[name].sum()
    # the same voxels: compare PET values inside the tumour
    a = sitk.GetArrayFromImage(full.images["pet"])[full.vois["tumor"]]
    b = sitk.GetArrayFromImage(cropped.images["pet"])[cropped.vois["tumor"]]
    np.testing.assert_allclose(np.sort(a), np.sort(b), atol=1e-5)


def test_rigid_registration_recovers_a_shift():
    z, y, x = np.mgrid[:40, :48, :48]
    body = ((z - 20) / 16.0) ** 2 + ((y - 24) / 18.0) ** 2 + ((x - 24) / 14.0) ** 2 < 1
    blob = (z - 20) ** 2 + (y - 20) ** 2 + (x - 28) ** 2 < 36
    ct = np.where(body, 40.0, -1000.0)
    ct[blob] = 300.0
    pet = np.where(body, 1.0, 0.0) + np.where(blob, 8.0, 0.0)
    ct_img = _img(ct, spacing=(2.0, 2.0, 2.0))
    pet_img = _img(pet, spacing=(2.0, 2.0, 2.0), origin=(6.0, -4.0, 0.0))  # PET shifted by (6, -4, 0) mm
    from radscore.imaging.registration import register_rigid

    tx, rec = register_rigid(ct_img, pet_img, seed=1)
    centre = (56.0, 40.0, 40.0)  # the blob, in CT space
    np.testing.assert_allclose(np.subtract(tx.TransformPoint(centre), centre), (6.0, -4.0, 0.0), atol=1.0)
    assert rec["method"] == "rigid"
    assert register_rigid(ct_img, pet_img, seed=1)[1]["parameters"] == rec["parameters"]  # deterministic
    # through prepare_patient: the registered PET is bright inside the CT's tumour
    cfg = StudyConfig.model_validate({"preprocess": {"registration": "rigid", "spacing_mm": None}, "seed": 1})
    p = prepare_patient(ct_img, pet_img, _img(blob, spacing=(2.0, 2.0, 2.0), dtype=np.uint8), cfg)
    assert record(p)["register"]["method"] == "rigid"
    pet_a = sitk.GetArrayFromImage(p.images["pet"])
    assert np.median(pet_a[p.vois["core"]]) > 7.0


def test_prepare_patient_is_deterministic(patient):
    ct, pet, mask, _ = patient
    a = prepare_patient(ct, pet, mask, StudyConfig())
    b = prepare_patient(ct, pet, mask, StudyConfig())
    for k in a.images:
        assert sitk.GetArrayFromImage(a.images[k]).tobytes() == sitk.GetArrayFromImage(b.images[k]).tobytes()
    assert a.steps == b.steps


def test_ct_only_study_prepares_the_ct_as_a_pet_ct_study_would(patient):
    ct, pet, mask, _ = patient
    cfg = StudyConfig()
    both = prepare_patient(ct, pet, mask, cfg, patient="P1")
    ct_only = prepare_patient(ct, None, mask, cfg, patient="P1")
    assert set(ct_only.images) == {"ct"}
    assert np.array_equal(sitk.GetArrayViewFromImage(ct_only.images["ct"]),
                          sitk.GetArrayViewFromImage(both.images["ct"]))
    assert set(ct_only.vois) == set(both.vois)
    assert all(np.array_equal(ct_only.vois[k], both.vois[k]) for k in both.vois)
    rec = record(ct_only)
    assert "fuse" not in rec and "register" not in rec and "pet_outside_value_suv" not in rec["resample"]


def test_pet_only_study_uses_the_pet_grid_and_an_unlimited_ring(patient):
    _, pet, _, _ = patient
    pet_a = sitk.GetArrayFromImage(pet)
    mask = _img(pet_a > 3.0, spacing=pet.GetSpacing(), dtype=np.uint8)  # drawn on the PET
    p = prepare_patient(None, pet, mask, StudyConfig(), patient="P1")
    assert set(p.images) == {"pet"} and p.images["pet"].GetSpacing() == (1.0, 1.0, 1.0)
    assert set(p.vois) == {"tumor", "core", "ring", "tumor_ring"}
    out = sitk.GetArrayFromImage(p.images["pet"])
    assert out[p.vois["core"]].mean() > 5.0
    rec = record(p)
    assert rec["check_mask"]["resampled_onto_ct"] is False  # the mask was on the reference (PET) grid
    assert rec["vois"]["body"].startswith("none") and "fuse" not in rec and "ct_outside_value_hu" not in rec["resample"]
    with pytest.raises(ImageError, match="neither a CT nor a PET"):
        prepare_patient(None, None, mask, StudyConfig())


@pytest.mark.parametrize("pet_only", [False, True])
def test_pet_bspline_overshoot_is_clipped_by_default(patient, pet_only):
    """A sharp hot tumour on a coarse PET: B-spline resampling rings above the hottest source
    voxel and below 0; by default the resampled PET stays within the source's range."""
    ct, pet, mask, _ = patient
    src = sitk.GetArrayFromImage(pet)
    cfg = StudyConfig()
    if pet_only:  # the PET's own grid is the reference: the mask must be drawn on it
        mask = sitk.Resample(mask, pet, sitk.Transform(), sitk.sitkNearestNeighbor)
    p = prepare_patient(None if pet_only else ct, pet, mask, cfg)
    out = sitk.GetArrayFromImage(p.images["pet"])
    assert out.max() <= src.max() and out.min() >= min(src.min(), 0.0)
    assert "clipped to the source PET's range" in record(p)["resample"]["pet_overshoot"]
    kept = prepare_patient(None if pet_only else ct, pet, mask,
                           cfg.model_copy(update={"preprocess": cfg.preprocess.model_copy(
                               update={"pet_overshoot": "keep"})}))
    raw = sitk.GetArrayFromImage(kept.images["pet"])
    assert raw.max() > src.max() * 1.01  # the overshoot the clip removes is real here
    inside = (raw <= src.max()) & (raw >= min(src.min(), 0.0))
    np.testing.assert_array_equal(out[inside], raw[inside])  # only overshooting voxels change
