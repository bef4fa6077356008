"""Masks from DICOM RTSTRUCT and SEG, checked against the IBSI CT phantom's NIfTI mask."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radscore.errors import ImageError
from radscore.io.dicom import read_series
from radscore.io.rtstruct import list_rois, rasterise_contours, read_mask, read_rtstruct, read_seg


def _dice(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def phantom(reference_dir):
    base = reference_dir / "ibsi" / "ct_radiomics_phantom"
    ct = read_series(base / "dicom" / "image")
    rs = next((base / "dicom" / "mask").iterdir())
    nifti = sitk.ReadImage(str(base / "nifti" / "mask" / "mask.nii.gz"))
    return base, ct, rs, nifti


def test_ibsi_phantom_rtstruct_matches_nifti_mask(phantom):
    _, ct, rs, nifti = phantom
    assert list_rois(rs) == ["GTV-1"]
    mask = read_rtstruct(rs, "GTV-1", ct)
    ref = sitk.Resample(nifti, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    dice = _dice(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(ref))
    assert dice >= 0.98, dice


def test_roi_names_case_insensitive_and_unknown(phantom):
    _, ct, rs, _ = phantom
    assert sitk.GetArrayViewFromImage(read_rtstruct(rs, "gtv-1", ct)).any()
    with pytest.raises(ImageError, match="GTV-1"):
        read_rtstruct(rs, "GTV-2", ct)


def test_rtstruct_on_a_foreign_image_is_an_error(phantom):
    _, ct, rs, _ = phantom
    far = sitk.Image(ct)
    far.SetOrigin((1000.0, 1000.0, 1000.0))
    with pytest.raises(ImageError, match="covers no voxel"):
        read_rtstruct(rs, "GTV-1", far)


def test_seg_round_trip_through_highdicom(phantom, tmp_path):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    base, ct, _, nifti = phantom
    files = sorted((base / "dicom" / "image").iterdir())
    sources = [pydicom.dcmread(f) for f in files]
    sources.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    ref = sitk.GetArrayFromImage(sitk.Resample(nifti, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0)) > 0
    # ct's slices run along +z as the sorted sources do
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="tumour", segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm, algorithm_type="MANUAL")
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=ref.astype(np.uint8), segmentation_type="BINARY",
        segment_descriptions=[desc], series_instance_uid=hd.UID(), series_number=99, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="radscore-test", manufacturer_model_name="test", software_versions="0",
        device_serial_number="0")
    path = tmp_path / "seg.dcm"
    seg.save_as(path)
    assert list_rois(path) == ["tumour"]
    got = sitk.GetArrayFromImage(read_seg(path, "tumour", ct)) > 0
    assert _dice(got, ref) == 1.0
    assert np.array_equal(sitk.GetArrayFromImage(read_mask(path, "tumour", ct)) > 0, got)
    with pytest.raises(ImageError, match="tumour"):
        read_seg(path, "liver", ct)


def test_rasterise_square_with_hole():
    ref = sitk.Image(20, 20, 3, sitk.sitkUInt8)
    ref.SetSpacing((0.5, 0.5, 2.0))
    ref.SetOrigin((-5.0, -5.0, 0.0))

    def square(lo, hi, z):
        return np.array([[lo, lo, z], [hi, lo, z], [hi, hi, z], [lo, hi, z]], float)

    mask, skipped = rasterise_contours([square(-3.1, 3.1, 2.0), square(-1.1, 1.1, 2.0), square(0, 1, 3.0)], ref)
    assert skipped == 1  # z = 3 mm lies between the slices at 2 and 4 mm
    # centres at -5 + 0.5 i inside (-3.1, 3.1): i = 4..16 -> 13 per axis; hole (-1.1, 1.1): i = 8..12 -> 5
    assert mask[1].sum() == 13 * 13 - 5 * 5
    assert not mask[0].any() and not mask[2].any()
