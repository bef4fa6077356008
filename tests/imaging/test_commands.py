"""The imaging CLI actions on the reference data."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from radscore.errors import ConfigError
from radscore.imaging.commands import cmd_rtstruct, cmd_suv


def test_cmd_suv_writes_suv_and_prints_tags(reference_dir, tmp_path, capsys):
    out = tmp_path / "suv.nii.gz"
    assert cmd_suv(reference_dir / "pet" / "suv_dro" / "DRO" / "DRO_4_2" / "PT", out, "bw") == 0
    text = capsys.readouterr().out
    assert "SUVbw factor" in text and "RadiopharmaceuticalStartTime (0018,1072)" in text and "midnight" in text
    img = sitk.ReadImage(str(out))
    mask = sitk.ReadImage(str(reference_dir / "pet" / "suv_dro" / "DRO" / "DRO_4_2" / "mask" / "DRO_mask.nii.gz"))
    v = sitk.GetArrayFromImage(img)[sitk.GetArrayFromImage(mask) > 0]
    assert np.median(v) == pytest.approx(1.0, abs=0.005)


def test_cmd_rtstruct_list_and_rasterise(reference_dir, tmp_path, capsys):
    base = reference_dir / "ibsi" / "ct_radiomics_phantom" / "dicom"
    rs = next((base / "mask").iterdir())
    assert cmd_rtstruct(rs, list_rois=True) == 0
    assert capsys.readouterr().out.split() == ["GTV-1"]
    out = tmp_path / "mask.nii.gz"
    assert cmd_rtstruct(rs, roi="GTV-1", image_dir=base / "image", out=out) == 0
    assert "GTV-1" in capsys.readouterr().out
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(out))).sum() > 1000
    with pytest.raises(ConfigError):
        cmd_rtstruct(rs, roi="GTV-1")


def test_cmd_segment_on_a_dro(reference_dir, tmp_path, capsys):
    from radscore.imaging.commands import cmd_segment

    folder = reference_dir / "pet" / "suv_dro" / "DRO" / "DRO_0_0" / "PT"
    out = tmp_path / "seg.nii.gz"
    # the DRO's hot region holds SUV 4 in a background of 1: 50 % of SUVmax separates them
    from radscore.io.dicom import read_pet_suv

    img, _ = read_pet_suv(folder)
    arr = sitk.GetArrayFromImage(img)
    hot = np.argwhere(arr >= 3.99)[0]
    seed = img.TransformIndexToPhysicalPoint([int(hot[2]), int(hot[1]), int(hot[0])])
    assert cmd_segment(folder, out, 50, seed_mm=seed) == 0
    assert "SUVmax 4.000" in capsys.readouterr().out
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(out))) > 0
    assert seg[tuple(hot)] and (arr[seg] >= 2.0).all()
    with pytest.raises(ConfigError):
        cmd_segment(folder, out, 50)
