"""Filters on the padded union box equal PyRadiomics' filters on the whole image, voxel for voxel."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import imageoperations
from scipy import ndimage as ndi

from radscore.features.filters import bounding_box, filtered_images

TYPES = {
    "Original": {}, "Wavelet": {}, "LoG": {"sigma": [1.0, 3.0]}, "Square": {}, "SquareRoot": {},
    "Logarithm": {}, "Exponential": {}, "Gradient": {},
}


def _image(shape=(40, 64, 70), seed=1):
    rng = np.random.default_rng(seed)
    arr = (ndi.gaussian_filter(rng.normal(0, 200, shape), 1.2) - 300).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.9, 0.9, 2.5))
    return img


@pytest.mark.parametrize("where", ["interior", "edge"])
def test_filters_equal_pyradiomics_whole_image(where):
    img = _image()
    mask = np.zeros(img.GetSize()[::-1], bool)
    if where == "interior":
        mask[15:24, 25:40, 30:44] = True
    else:  # touches the image border: wavelet must fall back to the full (wrapped) axis
        mask[0:7, 50:64, 0:12] = True
    box = bounding_box(mask)
    ours = dict(filtered_images(img, box, TYPES, mask))
    mimg = sitk.GetImageFromArray(mask.astype(np.uint8))
    mimg.CopyInformation(img)
    seen = 0
    for itype, kw in TYPES.items():
        for out, name, _ in getattr(imageoperations, f"get{itype}Image")(img, mimg, **kw):
            ref = sitk.GetArrayFromImage(out)[box][mask[box]]
            np.testing.assert_array_equal(ours[name][mask[box]], ref, err_msg=name)
            seen += 1
    assert seen == len(ours) == 1 + 8 + 2 + 5


def test_rescaled_filters_use_whole_image_maximum():
    img = _image()
    arr = sitk.GetArrayFromImage(img)
    arr[0, 0, 0] = 5000.0  # far outside the box, but it sets max|x|
    img2 = sitk.GetImageFromArray(arr)
    img2.CopyInformation(img)
    box = (slice(20, 25), slice(20, 25), slice(20, 25))
    mask = np.zeros(arr.shape, bool)
    mask[box] = True
    a = dict(filtered_images(img, box, {"Square": {}}, mask))["square"]
    b = dict(filtered_images(img2, box, {"Square": {}}, mask))["square"]
    assert not np.allclose(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int16, np.uint16, np.uint8])
def test_log_of_other_pixel_types_equals_pyradiomics(dtype):
    """16-bit and smaller integers take the float32 passes (exact), float64 and int32 ITK's own
    LoG on the padded box; both give PyRadiomics' values."""
    arr = sitk.GetArrayFromImage(_image()).astype(dtype)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.9, 0.9, 2.5))
    mask = np.zeros(arr.shape, bool)
    mask[15:24, 25:40, 30:44] = True
    box = bounding_box(mask)
    ours = dict(filtered_images(img, box, {"LoG": {"sigma": [1.0, 3.0]}}, mask))
    mimg = sitk.GetImageFromArray(mask.astype(np.uint8))
    mimg.CopyInformation(img)
    refs = list(imageoperations.getLoGImage(img, mimg, sigma=[1.0, 3.0]))
    assert len(refs) == len(ours) == 2
    for out, name, _ in refs:
        np.testing.assert_array_equal(ours[name][mask[box]], sitk.GetArrayFromImage(out)[box][mask[box]], err_msg=name)
