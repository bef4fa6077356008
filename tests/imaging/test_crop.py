"""PET/CT cubes around the lesion for the deep features."""

import numpy as np
import pytest


def test_physical_crop_is_centred_and_resampled():
    import SimpleITK as sitk

    from radscore.imaging.crop import crop_lesion

    ct_arr = np.zeros((20, 20, 20), np.float32)
    ct_arr[10, 10, 10] = 100.0  # a marker voxel at the tumour centre
    ct = sitk.GetImageFromArray(ct_arr)
    ct.SetSpacing((2.0, 2.0, 2.0))
    pet = sitk.GetImageFromArray(np.full((10, 10, 10), 3.0, np.float32))
    pet.SetSpacing((4.0, 4.0, 4.0))
    m = np.zeros((20, 20, 20), np.uint8)
    m[9:12, 9:12, 9:12] = 1  # centre voxel (10, 10, 10) -> 20 mm
    mask = sitk.GetImageFromArray(m)
    mask.CopyInformation(ct)
    c = crop_lesion(ct, pet, mask, size=9, spacing_mm=1.0)
    assert c["ct"].shape == c["pet"].shape == (9, 9, 9)
    # 1 mm grid centred on the marker: linear interpolation of a 2 mm voxel at offsets 0, +-1 mm
    assert c["ct"][4, 4, 4] == pytest.approx(100.0)
    assert c["ct"][4, 4, 5] == pytest.approx(50.0)
    assert c["pet"][4, 4, 4] == pytest.approx(3.0)
