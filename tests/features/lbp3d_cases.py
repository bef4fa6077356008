"""Inputs of the LBP-3D cross-check against PyRadiomics' own ``getLBP3DImage``.

Shared by ``scripts/pyradiomics-lbp3d-reference.sh`` (which writes these inputs for
PyRadiomics) and ``tests/features/test_lbp3d_pyradiomics.py`` (which rebuilds them for
radscore), so no image is stored in the repo: synthetic volumes come from a seed, the
real PET from ``../shared/reference``. Each case's :func:`fingerprint` is stored beside
PyRadiomics' values, so the test knows it rebuilt the very input PyRadiomics saw.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

#: Extractor settings of the cross-check: PyRadiomics' defaults except the fixed bin count
#: (LBP images have few distinct values; a bin width would depend on their range).
SETTINGS = {"binCount": 32}
IMAGE_TYPES = {"LBP3D": {}}
CLASSES = ["firstorder", "glcm"]

SYNTHETIC = {"synthetic_float32": (11, np.float32), "synthetic_float64": (12, np.float64)}
PET_CASE = "sts_001_pet_suv_float32"
PET_MARGIN = 3  # voxels of PET around the GTV_Mass box


def synthetic(seed: int, dtype) -> tuple[sitk.Image, sitk.Image]:
    """Smoothed noise plus a bright blob (PET-like range), and an irregular blob-shaped mask."""
    rng = np.random.default_rng(seed)
    shape = (18, 20, 22)
    z, y, x = np.indices(shape)
    r = np.sqrt(((z - 9) / 5.0) ** 2 + ((y - 10) / 6.0) ** 2 + ((x - 11) / 7.0) ** 2)
    image = 3.0 * np.exp(-r ** 2) + ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 1.0) + 1.0
    # on a 2^-20 grid: numpy's float64 exp differs in the last bit between CPUs (SIMD dispatch), and the
    # fingerprint below must not (it did: the reference's 2026 input could not be rebuilt on another VM)
    image = np.round(image * 2.0 ** 20) / 2.0 ** 20
    mask = (r + 0.3 * rng.random(shape)) < 1.0
    return _images(image.astype(dtype), mask, (2.0, 1.5, 1.5))


def pet(reference_dir: Path) -> tuple[sitk.Image, sitk.Image]:
    """STS_001's FDG PET in SUVbw (float32, radscore's DICOM loading) around its GTV_Mass."""
    from radscore.io.scan import ScanRef, load_scan

    root = Path(reference_dir) / "pet" / "sts_001_raw_fdg_pet"
    rtstruct = next((root / "mask").glob("*.dcm"))
    scan = load_scan(ScanRef("sts_001", pet=str(root / "image"), mask=str(rtstruct), mask_roi="GTV_Mass"))
    image = sitk.GetArrayFromImage(scan.pet)
    mask = sitk.GetArrayFromImage(scan.mask) > 0
    box = tuple(slice(max(0, int(i.min()) - PET_MARGIN), int(i.max()) + 1 + PET_MARGIN) for i in np.nonzero(mask))
    spacing = tuple(float(s) for s in reversed(scan.pet.GetSpacing()))
    return _images(image[box], mask[box], spacing)


def _images(image: np.ndarray, mask: np.ndarray, spacing_zyx) -> tuple[sitk.Image, sitk.Image]:
    im = sitk.GetImageFromArray(np.ascontiguousarray(image))
    ma = sitk.GetImageFromArray(mask.astype(np.uint8))
    for obj in (im, ma):
        obj.SetSpacing(tuple(float(s) for s in reversed(spacing_zyx)))
    return im, ma


def fingerprint(image: sitk.Image, mask: sitk.Image) -> str:
    """sha256 of the image's dtype, shape, spacing and values and of the mask's values."""
    h = hashlib.sha256()
    arr = sitk.GetArrayFromImage(image)
    h.update(f"{arr.dtype.str} {arr.shape} {image.GetSpacing()}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    h.update(np.ascontiguousarray(sitk.GetArrayFromImage(mask) > 0).tobytes())
    return h.hexdigest()
