import numpy as np
import pytest
import SimpleITK as sitk

from radscore.errors import ImageError
from radscore.io.images import load_image, load_mask, load_pet


def _img(arr, path, spacing=(1.0, 1.0, 1.0)):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return path


def test_missing_file_names_patient_and_file(tmp_path):
    with pytest.raises(ImageError) as err:
        load_image(tmp_path / "ct.nii.gz", modality="ct", patient="P7")
    assert "P7" in err.value.message and "ct.nii.gz" in err.value.message and "not found" in err.value.message


def test_truncated_file(tmp_path):
    path = _img(np.zeros((8, 8, 8), np.float32), tmp_path / "ct.nii.gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="cannot read"):
        load_image(path, modality="ct", patient="P1")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("kind", ["image", "mask"])
def test_nifti_shorter_than_its_header_is_refused(tmp_path, suffix, kind):
    """ITK fills a cut-off NIfTI with zeros and reports success (a half-length PET gave a wrong
    mean); the payload is checked against the header, also inside an intact gzip stream."""
    import gzip

    arr = (np.arange(8 * 8 * 8).reshape(8, 8, 8) % 3).astype(np.uint8 if kind == "mask" else np.float32)
    raw = _img(arr, tmp_path / "full.nii").read_bytes()
    cut = raw[: len(raw) - arr.nbytes // 2]
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(gzip.compress(cut) if suffix == ".nii.gz" else cut)
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(path))).shape == arr.shape  # ITK takes it
    with pytest.raises(ImageError, match="truncated") as err:
        if kind == "mask":
            load_mask(path, patient="P3")
        else:
            load_image(path, modality="pet", patient="P3")
    assert "P3" in err.value.message and "declares" in err.value.message
    load_image(tmp_path / "full.nii", modality="ct")  # the whole file passes


def test_extract_refuses_a_truncated_image(tmp_path):
    from radscore.cli import main

    arr = np.zeros((8, 8, 8), np.float32)
    raw = _img(arr, tmp_path / "pet.nii").read_bytes()
    (tmp_path / "pet.nii").write_bytes(raw[: len(raw) - 1000])
    mask = np.zeros((8, 8, 8), np.uint8)
    mask[2:6, 2:6, 2:6] = 1
    _img(mask, tmp_path / "mask.nii")
    code = main(["-q", "extract", "--image", str(tmp_path / "pet.nii"), "--mask", str(tmp_path / "mask.nii"),
                 "--out", str(tmp_path / "f.csv")])
    assert code == 2 and not (tmp_path / "f.csv").exists()


def test_non_image_file(tmp_path):
    path = tmp_path / "ct.nii.gz"
    path.write_text("this is not an image")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(path, modality="ct", patient="P1")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_rejected(tmp_path, bad):
    arr = np.zeros((8, 8, 8), np.float32)
    arr[2, 3, 4] = bad
    with pytest.raises(ImageError, match="NaN/infinite"):
        load_pet(_img(arr, tmp_path / "pet.nii.gz"), patient="P1")


def test_mask_with_several_labels(tmp_path):
    arr = np.zeros((8, 8, 8), np.uint8)
    arr[1:3, 1:3, 1:3] = 1
    arr[5:7, 5:7, 5:7] = 2
    path = _img(arr, tmp_path / "m.nii.gz")
    with pytest.raises(ImageError, match="several labels"):
        load_mask(path, patient="P1")
    assert sitk.GetArrayFromImage(load_mask(path, patient="P1", label=2)).sum() == 8


def test_rtstruct_mask_named_in_the_manifest_is_drawn_on_the_ct(reference_dir):
    from radscore.io.dicom import read_series

    phantom = reference_dir / "ibsi" / "ct_radiomics_phantom"
    ct = read_series(phantom / "dicom" / "image", patient="IBSI")
    mask = load_mask(phantom / "dicom" / "mask" / "DCM_RS_00060.dcm", patient="IBSI", roi="GTV-1", reference=ct)
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(phantom / "nifti" / "mask" / "mask.nii.gz"))) > 0
    got = sitk.GetArrayFromImage(mask) > 0
    dice = 2 * (got & expected).sum() / (got.sum() + expected.sum())
    assert dice >= 0.98
    with pytest.raises(ImageError, match="needs the CT"):
        load_mask(phantom / "dicom" / "mask" / "DCM_RS_00060.dcm", patient="IBSI", roi="GTV-1")
