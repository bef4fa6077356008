"""PET threshold segmentation and mask perturbation."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from radscore.errors import ImageError
from radscore.imaging.perturb import (
    dilate_voxels,
    erode_voxels,
    perturbed_masks,
    random_contour,
    signed_distance_mm,
)
from radscore.imaging.segmentation import segment_pet_image, threshold_segment


def _two_lesions():
    z, y, x = np.mgrid[:40, :40, :40]
    r1 = np.sqrt((z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2)
    r2 = np.sqrt((z - 28) ** 2 + (y - 28) ** 2 + (x - 28) ** 2)
    pet = 1.0 + np.where(r1 <= 5, 9.0, 0.0) + np.where(r2 <= 4, 4.0, 0.0)
    return pet, r1 <= 5, r2 <= 4


def test_percent_of_suvmax_with_seed_keeps_the_seed_lesion():
    pet, l1, l2 = _two_lesions()
    seg = threshold_segment(pet, 41, seed=(28, 28, 28), search_mm=100)
    # SUVmax in the big box is 10 (lesion 1), 41 % = 4.1: lesion 2 (5.0) is above, kept alone
    assert seg.suv_max == 10.0 and seg.threshold_suv == pytest.approx(4.1)
    assert np.array_equal(seg.mask, l2)


def test_fixed_suv_in_a_box_takes_the_component_of_the_box_maximum():
    pet, l1, l2 = _two_lesions()
    seg = threshold_segment(pet, 2.5, mode="suv", box=((0, 0, 0), (40, 40, 40)))
    assert np.array_equal(seg.mask, l1)
    assert seg.seed == (12, 12, 12) or l1[seg.seed]


def test_seed_below_threshold_and_missing_region():
    pet, _, _ = _two_lesions()
    with pytest.raises(ValueError, match="below the threshold"):
        threshold_segment(pet, 2.5, mode="suv", seed=(0, 0, 0))
    with pytest.raises(ValueError, match="seed"):
        threshold_segment(pet, 41)


def test_segment_pet_image_physical_seed():
    pet, l1, _ = _two_lesions()
    img = sitk.GetImageFromArray(pet.astype(np.float32))
    img.SetSpacing((2.0, 2.0, 2.0))
    img.SetOrigin((-10.0, 0.0, 5.0))
    mask, seg = segment_pet_image(img, 50, seed_mm=(-10 + 24.0, 24.0, 5 + 24.0))
    assert np.array_equal(sitk.GetArrayFromImage(mask) > 0, l1)
    with pytest.raises(ImageError, match="segmentation failed"):
        segment_pet_image(img, 50, seed_mm=(-10.0, 0.0, 5.0))


def test_dilate_erode_one_voxel():
    m = np.zeros((9, 9, 9), bool)
    m[4, 4, 4] = True
    assert dilate_voxels(m).sum() == 7
    cube = np.zeros((9, 9, 9), bool)
    cube[2:7, 2:7, 2:7] = True
    assert erode_voxels(cube).sum() == 27
    edge = np.ones((4, 4, 4), bool)
    assert erode_voxels(edge).sum() == 8  # the border counts as outside


def test_random_contour_is_seeded_and_small():
    z, y, x = np.mgrid[:50, :50, :50]
    ball = (z - 25) ** 2 + (y - 25) ** 2 + (x - 25) ** 2 <= 12**2
    a = random_contour(ball, seed=1)
    assert np.array_equal(a, random_contour(ball, seed=1))
    assert not np.array_equal(a, random_contour(ball, seed=2))
    dice = 2 * (a & ball).sum() / (a.sum() + ball.sum())
    assert 0.85 < dice < 0.995
    assert abs(a.sum() / ball.sum() - 1) < 0.2


def test_perturbed_masks_keys():
    m = np.zeros((20, 20, 20), bool)
    m[5:15, 5:15, 5:15] = True
    out = perturbed_masks(m, seed=3, n_random=2)
    assert list(out) == ["original", "dilate_1", "erode_1", "random_0", "random_1"]
    assert out["dilate_1"].sum() > m.sum() > out["erode_1"].sum()
    again = perturbed_masks(m, seed=3, n_random=2)
    assert all(np.array_equal(out[k], again[k]) for k in out)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), sp=st.sampled_from([(1.0, 1.0, 1.0), (2.0, 0.8, 0.8)]))
def test_signed_distance_sign_and_nesting(seed, sp):
    rng = np.random.default_rng(seed)
    m = np.zeros((12, 12, 12), bool)
    lo = rng.integers(1, 5, 3)
    m[lo[0]:lo[0] + 5, lo[1]:lo[1] + 5, lo[2]:lo[2] + 5] = True
    d = signed_distance_mm(m, sp)
    assert (d[m] < 0).all() and (d[~m] > 0).all()
    assert not (erode_voxels(m) & ~m).any() and not (m & ~dilate_voxels(m)).any()
