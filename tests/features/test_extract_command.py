"""``cmd_extract``: PyRadiomics parameter files in, one row of PyRadiomics names out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radscore.errors import ConfigError, ImageError
from radscore.features import pyrad
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


@pytest.mark.parametrize("extra", ["", "  resampledPixelSpacing: [1, 1, 2]\n  interpolator: sitkBSpline\n"])
def test_params_file_gives_pyradiomics_values(case, extra):
    tmp, img, mask = case
    params = tmp / "params.yaml"
    params.write_text(
        "setting:\n  binWidth: 10\n  label: 2\n" + extra
        + "imageType:\n  Original: {}\n  LoG: {sigma: [1.0]}\n  Square: {}\n"
        + "featureClass:\n  shape:\n  firstorder: []\n  glcm:\n"
    )
    out = tmp / "features.csv"
    assert cmd_extract(tmp / "img.nrrd", tmp / "mask.nrrd", params, out) == 0
    row = pd.read_csv(out).iloc[0]
    setting = {"binWidth": 10, "label": 2, "additionalInfo": False}
    if extra:
        setting.update(resampledPixelSpacing=[1, 1, 2], interpolator="sitkBSpline")
    ext = pyrad.make_extractor(
        setting, {"Original": {}, "LoG": {"sigma": [1.0]}, "Square": {}}, {"shape": [], "firstorder": [], "glcm": []}
    )
    ref = pyrad.execute(ext, img, mask, label=2)
    assert set(row.index) == {"Image", "Mask", *ref}
    assert "log-sigma-1-0-mm-3D_glcm_Contrast" in ref
    for k, v in ref.items():
        assert row[k] == pytest.approx(v, rel=1e-6, abs=1e-6), k


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
