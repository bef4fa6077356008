"""Cubes of PET and CT around a lesion, at a fixed physical size: the deep features' input.

The mCRC seed (PROTOCOL B2) feeds PET/CT crops around the tumour through a 3-D CNN
(:mod:`radscore.features.deep`). :func:`radscore.imaging.preprocess.prepare_scan` cuts
them from the loaded scan, so they come from the same files, SUV conversion and mask
(file, RTSTRUCT or SEG) as the hand-crafted features.
"""

from __future__ import annotations

import numpy as np

from radscore.errors import DataError


def crop_lesion(ct, pet, mask, size: int, spacing_mm: float = 1.0) -> dict[str, np.ndarray]:
    """PET and CT cubes of ``size`` voxels at ``spacing_mm`` around the mask's bounding-box centre.

    Both images are resampled (linear; CT outside the scan -1000 HU, PET 0 SUV) onto one
    axis-aligned grid centred on the tumour in physical space, so the crop covers the same
    millimetres whatever the scanners' voxel sizes.

    Parameters
    ----------
    ct, pet, mask : SimpleITK.Image
        CT (HU), PET (SUV) and tumour mask (non-zero inside), each on its own grid.
    """
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    idx = np.argwhere(arr != 0)
    if idx.size == 0:
        raise DataError("the mask is empty.", fix="check the segmentation.")
    centre_zyx = (idx.min(axis=0) + idx.max(axis=0)) / 2.0
    centre = np.asarray(mask.TransformContinuousIndexToPhysicalPoint([float(c) for c in centre_zyx[::-1]]))
    ref = sitk.Image([size] * 3, sitk.sitkFloat32)
    ref.SetSpacing([spacing_mm] * 3)
    ref.SetOrigin(tuple(centre - spacing_mm * (size - 1) / 2.0))
    out = {}
    for name, img, fill in (("ct", ct, -1000.0), ("pet", pet, 0.0)):
        res = sitk.Resample(sitk.Cast(img, sitk.sitkFloat32), ref, sitk.Transform(), sitk.sitkLinear, fill)
        out[name] = sitk.GetArrayFromImage(res).astype(float)
    return out
