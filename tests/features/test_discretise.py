"""Discretisation equals PyRadiomics' ``imageoperations.binImage`` exactly."""

from __future__ import annotations

import numpy as np
import pytest
from radiomics import imageoperations

from radscore.features.discretise import bin_image


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
