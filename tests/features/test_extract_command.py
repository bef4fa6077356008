"""``cmd_extract``: PyRadiomics parameter files in, one row of PyRadiomics names out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyrad_oracle as pyrad
import pytest
import SimpleITK as sitk
import yaml

from radscore.errors import ConfigError, ImageError
from radscore.features.commands import cmd_extract


@pytest.fixture()
def case(tmp_path):
    rng = np.random.default_rng(5)
    arr = rng.normal(100, 40, (16, 24, 26)).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.8, 0.8, 2.0))
    m = np.zeros(arr.shape, np.uint8)
    m[4:12, 6:18, 5:20] = 2
    mask = sitk.GetImageFromArray(m)
    mask.CopyInformation(img)
    sitk.WriteImage(img, str(tmp_path / "img.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    return tmp_path, img, mask


def _write(tmp, text):
    params = tmp / "params.yaml"
    params.write_text(text)
    return params


def _pyradiomics(img, mask, setting, image_types, classes, label=2):
    """Plain PyRadiomics, run here as the oracle."""
    ext = pyrad.make_extractor({**setting, "additionalInfo": False}, image_types, classes)
    return pyrad.execute(ext, img, mask, label=label)


def _assert_row_is(row, ref, rel=1e-6):
    assert set(row.index) == {"Image", "Mask", *ref}
    for k, v in ref.items():
        assert row[k] == pytest.approx(v, rel=rel, abs=1e-6, nan_ok=True), k


SETTINGS = {
    "plain": {},
    "2-D": {"force2D": True, "force2Ddimension": 0},
    "normalised": {"normalize": True, "normalizeScale": 100, "removeOutliers": 2.5},
    "re-segmented": {"resegmentRange": [60, 150]},
    "re-segmented shape": {"resegmentRange": [80], "resegmentShape": True},
    "re-segmented relative": {"resegmentRange": [0.5, 0.9], "resegmentMode": "relative"},
    "re-segmented sigma": {"resegmentRange": [-1, 1.5], "resegmentMode": "sigma", "distances": [1, 2]},
}


@pytest.mark.parametrize("extra", list(SETTINGS))
def test_params_file_gives_pyradiomics_values(case, extra):
    """The engine's values for settings PyRadiomics users set, against PyRadiomics run here."""
    tmp, img, mask = case
    setting = {"binWidth": 10, "label": 2, **SETTINGS[extra]}
    params = _write(tmp, yaml.safe_dump({
        "setting": setting, "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}, "Square": {}},
        "featureClass": {"shape": None, "firstorder": [], "glcm": None, "glszm": None, "ngtdm": None}}))
    out = tmp / "features.csv"
    assert cmd_extract(tmp / "img.nrrd", tmp / "mask.nrrd", params, out) == 0
    ref = _pyradiomics(img, mask, setting, {"Original": {}, "LoG": {"sigma": [1.0]}, "Square": {}},
                       {"shape": [], "firstorder": [], "glcm": [], "glszm": [], "ngtdm": []})
    assert "log-sigma-1-0-mm-3D_glcm_Contrast" in ref
    _assert_row_is(pd.read_csv(out).iloc[0], ref)


def test_named_features_only(case):
    tmp, img, mask = case
    classes = {"firstorder": ["Mean", "Entropy"], "glcm": ["Contrast"], "shape": ["Sphericity"]}
    params = _write(tmp, yaml.safe_dump({"setting": {"binWidth": 10, "label": 2}, "featureClass": classes}))
    out = tmp / "features.csv"
    cmd_extract(tmp / "img.nrrd", tmp / "mask.nrrd", params, out)
    ref = _pyradiomics(img, mask, {"binWidth": 10}, {"Original": {}}, classes)
    assert len(ref) == 4
    _assert_row_is(pd.read_csv(out).iloc[0], ref)


@pytest.mark.parametrize("text, match", [
    ("setting:\n  resampledPixelSpacing: [1, 1, 2]\n", "resampledPixelSpacing"),
    ("setting:\n  preCrop: true\n", "preCrop"),
    ("setting:\n  binwidth: 10\n", r"unknown setting\(s\) \['binwidth'\]"),
    ("imageType:\n  LBP2D: {}\n", "LBP2D"),
    ("setting:\n  force2D: true\nimageType:\n  Wavelet: {}\n", "force2D with the Wavelet"),
    ("featureClass:\n  shape2D:\n", "shape2D"),
    ("featureClass:\n  glcm: [Contrast, Kontrast]\n", "Kontrast"),
    ("setting:\n  resegmentRange: [1, 2]\n  resegmentMode: percent\n", "resegmentMode"),
])
def test_settings_outside_the_engine_are_refused(case, text, match):
    """What radscore cannot compute exactly is a ConfigError naming it, never a silent value."""
    tmp, *_ = case
    params = _write(tmp, "setting:\n  label: 2\n" + text if not text.startswith("setting") else
                    text.replace("setting:\n", "setting:\n  label: 2\n", 1))
    with pytest.raises(ConfigError, match=match) as info:
        cmd_extract(tmp / "img.nrrd", tmp / "mask.nrrd", params, tmp / "o.csv")
    assert info.value.file == str(params)
    assert not (tmp / "o.csv").exists()


def test_resegmentation_leaving_one_voxel_is_an_image_error(case):
    tmp, *_ = case
    params = _write(tmp, "setting:\n  label: 2\n  resegmentRange: [1000]\n")
    with pytest.raises(ImageError, match="re-segmented mask is empty"):
        cmd_extract(tmp / "img.nrrd", tmp / "mask.nrrd", params, tmp / "o.csv")


def test_bad_inputs_are_radscore_errors(case, tmp_path):
    tmp, *_ = case
    bad = tmp / "bad.yaml"
    bad.write_text("settings:\n  binWidth: 10\n")
    with pytest.raises(ConfigError, match="unknown section"):
        cmd_extract(tmp / "img.nrrd", tmp / "mask.nrrd", bad, tmp / "o.csv")
    with pytest.raises(ImageError, match="label 1"):
        cmd_extract(tmp / "img.nrrd", tmp / "mask.nrrd", None, tmp / "o.csv")
    with pytest.raises(ImageError, match="not found"):
        cmd_extract(tmp / "missing.nrrd", tmp / "mask.nrrd", None, tmp / "o.csv")
    assert not (tmp / "o.csv").exists()
