"""DICOM SEG + SR outputs: written with highdicom, read back with highdicom and pydicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radscore.catalog import feature_parts
from radscore.features.ibsi_names import IBSI_CODES, IBSI_TAGS, ibsi_code
from radscore.io.dicom import read_series
from radscore.io.dicom_out import ModelResult, source_series, write_dicom_outputs
from radscore.io.rtstruct import read_seg
from radscore.simulate.dicom import write_dicom_scan

IDS = {"PatientName": "Doe^Jane", "PatientID": "SRC123", "PatientBirthDate": "19600101", "AccessionNumber": "ACC9"}


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> tuple[Path, Path]:
    """A small CT + PET DICOM pair (same frame of reference), oblique-free but off-origin."""
    ct = sitk.GetImageFromArray(np.full((14, 30, 36), -100.0, np.float32))
    ct.SetSpacing((0.9, 0.8, 2.5))
    ct.SetOrigin((-20.0, -15.0, 30.0))
    pet = sitk.GetImageFromArray(np.ones((14, 30, 36), np.float32))
    pet.CopyInformation(ct)
    return write_dicom_scan(ct, pet, tmp_path_factory.mktemp("dicom"), identifiers=IDS, uid_seed="dicomout")


def _grid(ct_dir: Path) -> sitk.Image:
    """A resampled, cropped grid in the CT's frame (as preprocess makes): frames do not coincide with slices."""
    ct = read_series(ct_dir)
    grid = sitk.Image([20, 18, 16], sitk.sitkFloat32)
    grid.SetSpacing((1.0, 1.0, 1.3))
    grid.SetOrigin(tuple(np.asarray(ct.GetOrigin()) + [3.1, 2.2, 4.0]))
    grid.SetDirection(ct.GetDirection())
    return grid


def _vois(shape) -> dict[str, np.ndarray]:
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    r = np.sqrt(((z - 8) * 1.3) ** 2 + (y - 9.0) ** 2 + (x - 10.0) ** 2)
    tumor = r <= 4.5
    return {"tumor": tumor, "core": r <= 2.0, "ring": (r > 4.5) & (r <= 7.0), "tumor_ring": r <= 7.0}


RESULTS = [
    ModelResult("comb", "COMB-Radscore", "f" * 64, -1.2345678901234,
                {"pet_tumor_original_glcm_Idn": 0.8125, "ct_ring_original_firstorder_Mean": -41.5,
                 "pet_tumor_original_shape_MeshVolume": 381.25, "petct_core_wavelet-LLH_glcm_Contrast": 2.5,
                 "pet_tumor_original_firstorder_Kurtosis": 3.75, "ct_tumor_original_glcm_Idm": float("nan")}),
    ModelResult("pet", "PET-Radscore", "e" * 64, 0.5, {"pet_tumor_ring_original_firstorder_Maximum": 7.25}),
]


@pytest.fixture(scope="module")
def written(series, tmp_path_factory):
    ct_dir, pet_dir = series
    grid = _grid(ct_dir)
    vois = _vois(grid.GetSize()[::-1])
    source = source_series(str(ct_dir), str(pet_dir))
    seg, sr = write_dicom_outputs(vois, grid, source, RESULTS, tmp_path_factory.mktemp("out"),
                                  voi_settings={"core_mm": 3.0, "ring_mm": 5.0}, modalities=("pet", "ct"))
    return grid, vois, seg, sr


def test_seg_geometry_and_pixels_equal_the_masks(written, series):
    grid, vois, seg_path, _ = written
    ds = pydicom.dcmread(seg_path)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["tumor", "core", "ring", "tumor_ring"]
    shared = ds.SharedFunctionalGroupsSequence[0]
    d = np.asarray(grid.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
                               [*d[:, 0], *d[:, 1]], atol=1e-6)
    measures = shared.PixelMeasuresSequence[0]
    np.testing.assert_allclose([float(v) for v in measures.PixelSpacing], grid.GetSpacing()[1::-1], atol=1e-6)
    assert float(measures.SpacingBetweenSlices) == pytest.approx(grid.GetSpacing()[2])
    assert (ds.Rows, ds.Columns) == (grid.GetSize()[1], grid.GetSize()[0])
    # pydicom alone: each frame's segment and position -> the mask slice it must equal
    pixels = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence}
    seen = {n: set() for n in names.values()}
    for frame, item in zip(pixels, ds.PerFrameFunctionalGroupsSequence):
        name = names[int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)]
        pos = np.array([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient])
        k = grid.TransformPhysicalPointToContinuousIndex(tuple(pos))
        np.testing.assert_allclose(k[:2], [0.0, 0.0], atol=1e-6)
        z = int(round(k[2]))
        assert abs(k[2] - z) < 1e-6
        np.testing.assert_array_equal(frame.astype(bool), vois[name][z])
        seen[name].add(z)
    for name, mask in vois.items():  # every non-empty slice is there (empty ones are omitted)
        assert seen[name] == set(np.flatnonzero(mask.any(axis=(1, 2))))


def test_seg_reads_back_with_highdicom_onto_the_grid(written):
    grid, vois, seg_path, _ = written
    for name, mask in vois.items():
        back = read_seg(seg_path, name, grid)  # highdicom's get_volume, placed on the grid
        np.testing.assert_array_equal(sitk.GetArrayFromImage(back).astype(bool), mask)


def test_seg_references_the_source_series_and_copies_only_their_patient_module(written, series):
    _, _, seg_path, sr_path = written
    ct_dir, pet_dir = series
    ct0 = pydicom.dcmread(next(ct_dir.glob("*.dcm")), stop_before_pixels=True)
    pet0 = pydicom.dcmread(next(pet_dir.glob("*.dcm")), stop_before_pixels=True)
    for path in (seg_path, sr_path):
        ds = pydicom.dcmread(path)
        assert ds.StudyInstanceUID == ct0.StudyInstanceUID
        assert ds.PatientID == IDS["PatientID"] and str(ds.PatientName) == IDS["PatientName"]
        assert ds.SeriesInstanceUID not in (ct0.SeriesInstanceUID, pet0.SeriesInstanceUID)
    seg = pydicom.dcmread(seg_path)
    assert seg.FrameOfReferenceUID == ct0.FrameOfReferenceUID
    referenced = {s.SeriesInstanceUID for s in seg.ReferencedSeriesSequence}
    assert {ct0.SeriesInstanceUID, pet0.SeriesInstanceUID} <= referenced


def _groups(sr_path):
    sr = hd.sr.srread(sr_path)
    return sr, sr.content.get_volumetric_roi_measurement_groups()


def test_sr_values_codes_and_segment_references(written):
    _, _, seg_path, sr_path = written
    seg = pydicom.dcmread(seg_path)
    numbers = {str(s.SegmentLabel): int(s.SegmentNumber) for s in seg.SegmentSequence}
    sr, groups = _groups(sr_path)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR Storage (PS3.4 B.5)
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert {str(g.tracking_identifier) for g in groups} == {"comb tumor", "comb ring", "comb core", "pet tumor_ring",
                                                            "pet tumor"}
    values, images, units = {}, {}, {}
    for g in groups:
        model, voi = str(g.tracking_identifier).split(" ")
        ref = g.referenced_segment
        assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert ref.referenced_segment_numbers == [numbers[voi]]
        for m in g.get_measurements():
            local = m.name.scheme_designator == "99RADSCORE" and m.name.value != "RADSCORE"
            key = (model, voi, m.name.scheme_designator, m.name.meaning if local else m.name.value)
            assert len(m.name.value) <= 16  # short codes: no LongCodeValue
            values[key] = m.value
            units[key] = m.unit.value
            if m.method is not None:
                images[key] = m.method.value
    # the Radscore: tumour group, local code, every digit a float carries through DS is kept to 1e-12
    assert values[("comb", "tumor", "99RADSCORE", "RADSCORE")] == pytest.approx(-1.2345678901234, abs=1e-12)
    assert values[("pet", "tumor", "99RADSCORE", "RADSCORE")] == pytest.approx(0.5)
    # IBSI-coded where IBSI has the feature (original image): Idn is "normalised inverse difference" NDRX
    assert values[("comb", "tumor", "IBSI", "NDRX")] == pytest.approx(0.8125)
    assert values[("comb", "ring", "IBSI", "Q4LE")] == pytest.approx(-41.5)
    assert values[("comb", "tumor", "IBSI", "RNU0")] == pytest.approx(381.25)
    assert units[("comb", "tumor", "IBSI", "RNU0")] == "mm3" and units[("comb", "tumor", "IBSI", "NDRX")] == "1"
    assert values[("pet", "tumor_ring", "IBSI", "84IY")] == pytest.approx(7.25)
    # filtered images and PyRadiomics' non-excess kurtosis: local codes whose meaning is the PyRadiomics name
    assert values[("comb", "core", "99RADSCORE", "wavelet-LLH_glcm_Contrast")] == pytest.approx(2.5)
    assert values[("comb", "tumor", "99RADSCORE", "original_firstorder_Kurtosis")] == pytest.approx(3.75)
    assert images[("comb", "core", "99RADSCORE", "wavelet-LLH_glcm_Contrast")] == "image-petct"
    assert images[("comb", "ring", "IBSI", "Q4LE")] == "image-ct"
    assert not any("Idm" in k[3] for k in values)  # NaN left out
    schemes = {item.CodingSchemeDesignator for item in pydicom.dcmread(sr_path).CodingSchemeIdentificationSequence}
    assert schemes == {"IBSI", "99RADSCORE"}


def test_image_files_are_skipped_with_the_reason(tmp_path, series):
    ct_dir, pet_dir = series
    nifti = tmp_path / "ct.nii.gz"
    sitk.WriteImage(read_series(ct_dir), str(nifti))
    reason = source_series(str(nifti), str(pet_dir))
    assert isinstance(reason, str) and "not a DICOM series" in reason
    pet_only = source_series(None, str(pet_dir))
    assert pet_only.reference[0].Modality == "PT" and pet_only.further == []


def test_pet_in_another_frame_of_reference_is_not_referenced(tmp_path, series):
    ct_dir, _ = series
    img = read_series(ct_dir)
    _, other_pet = write_dicom_scan(img, sitk.Cast(img * 0 + 1, sitk.sitkFloat32), tmp_path, uid_seed="other")
    source = source_series(str(ct_dir), str(other_pet))
    assert source.further == [] and "another frame of reference" in source.note


def test_feature_parts_and_ibsi_codes():
    assert feature_parts("pet_tumor_ring_original_glcm_Contrast") == ("pet", "tumor_ring", "original_glcm_Contrast")
    assert feature_parts("petct_core_log-sigma-1-0-mm-3D_firstorder_Mean") == (
        "petct", "core", "log-sigma-1-0-mm-3D_firstorder_Mean")
    assert feature_parts("pet_conventional_SUVmax") is None and feature_parts("deep_pet_3") is None
    codes = [c for c, _ in IBSI_CODES.values()]
    assert len(set(codes)) == len(codes) and all(len(c) == 4 and c.isalnum() for c in codes)
    assert set(IBSI_CODES) == set(IBSI_TAGS.values()) - {"stat_kurt"}
    assert ibsi_code("original_firstorder_Kurtosis") is None and ibsi_code("square_glcm_Idn") is None


@pytest.mark.slow
@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0)])
def test_real_ct_with_rtstruct(reference_dir, tmp_path, spacing):
    """The IBSI CT phantom (a patient CT, DICOM, with an RTSTRUCT): the SEG equals the prepared VOIs;
    on the CT's own grid each frame also names the CT slice it lies on."""
    from radscore.config import PreprocessSettings, ScanSettings
    from radscore.imaging.preprocess import prepare_scan
    from radscore.io.scan import ScanRef
    from radscore.pipeline.dicom_export import export_dicom

    base = reference_dir / "ibsi" / "ct_radiomics_phantom" / "dicom"
    rs = next((base / "mask").iterdir())
    ref = ScanRef("phantom", ct=str(base / "image"), mask=str(rs), mask_roi="GTV-1")
    settings = ScanSettings(modalities=["ct"], preprocess=PreprocessSettings(spacing_mm=spacing))
    index = export_dicom([ref], settings, {}, tmp_path)
    assert list(index["status"]) == ["written"] and index.at[0, "sr"] == ""
    prepared = prepare_scan(ref, settings)
    grid = prepared.images["ct"]
    seg_path = tmp_path / index.at[0, "seg"]
    for name, mask in prepared.vois.items():
        np.testing.assert_array_equal(sitk.GetArrayFromImage(read_seg(seg_path, name, grid)).astype(bool), mask)
    ds = pydicom.dcmread(seg_path)
    ct_uids = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in (base / "image").iterdir()}
    derived = [item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
               for item in ds.PerFrameFunctionalGroupsSequence if item.get("DerivationImageSequence")]
    if spacing is None:  # frames on CT slices: each refers to its slice, as viewers overlay them
        assert len(derived) == int(ds.NumberOfFrames) and set(derived) <= ct_uids
    else:
        assert derived == []


def test_no_patient_name_reaches_warnings_or_logs(tmp_path, caplog, recwarn):
    img = sitk.GetImageFromArray(np.zeros((4, 8, 8), np.float32))
    ct_dir, _ = write_dicom_scan(img, img, tmp_path / "in", identifiers={"PatientName": "Qzxvontrel"}, uid_seed="n")
    vois = {"tumor": np.zeros((4, 8, 8), bool)}
    vois["tumor"][1:3, 2:5, 2:5] = True
    caplog.set_level("DEBUG")
    seg, sr = write_dicom_outputs(vois, read_series(ct_dir), source_series(str(ct_dir), None),
                                  [ModelResult("ct", "CT-Radscore", "0", 0.25, {"ct_tumor_original_firstorder_Mean": 1.0})],
                                  tmp_path / "out", voi_settings={"core_mm": 3.0, "ring_mm": 5.0},
                                  modalities=("ct",))
    assert pydicom.dcmread(seg).PatientName == "Qzxvontrel"  # the source's patient module, as DICOM requires
    assert not any("Qzxvontrel" in str(w.message) for w in recwarn) and "Qzxvontrel" not in caplog.text
