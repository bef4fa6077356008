"""Discretisation equals PyRadiomics' ``imageoperations.binImage`` exactly."""

from __future__ import annotations

import numpy as np
import pytest
from radiomics import imageoperations

from radscore.features.discretise import bin_image, gray_levels


@pytest.mark.parametrize("settings", [{"binWidth": 25}, {"binWidth": 0.25}, {"binWidth": 0.1}, {"binCount": 64},
                                      {"binCount": 7}])
@pytest.mark.parametrize("case", ["noise", "negative", "flat", "flat_on_edge", "one_voxel", "float64"])
def test_bin_image_equals_pyradiomics(settings, case):
    rng = np.random.default_rng(11)
    image = rng.normal(0, 300, (9, 10, 11)).astype(np.float32)
    mask = rng.random(image.shape) > 0.5
    if case == "negative":
        image -= 1000
    elif case == "flat":
        image[:] = 3.3
    elif case == "flat_on_edge":
        image[:] = 50.0
    elif case == "one_voxel":
        mask[:] = False
        mask[4, 5, 6] = True
    elif case == "float64":
        image = image.astype(np.float64) / 7
    ref, _ = imageoperations.binImage(image, mask, **settings)
    ours = bin_image(image, mask, **settings)
    assert ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("codes", [
    np.random.default_rng(3).integers(1, 40, 500),  # a discretised ROI
    np.array([7, 7, 7]), np.array([0, 3, 3, 1]), np.array([], dtype=int),
    np.array([-2, 5, -2]),  # negative: np.unique's path
    np.array([3, 1 << 40]),  # beyond the counting table
    np.array([2.5, 1.0, 2.5]), np.array([4, 2, 4], dtype=np.uint8),
])
def test_gray_levels_equal_np_unique(codes):
    ours, ref = gray_levels(codes), np.unique(codes)
    assert ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours, ref)
