"""Resampling: centre-aligned grids, PET onto CT, masks by nearest neighbour or partial volume."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from radscore.imaging.resample import (
    grid_for_spacing,
    resample_like,
    resample_mask_like,
    resample_to_spacing,
    same_grid,
)


def _img(arr, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    im = sitk.GetImageFromArray(np.asarray(arr))
    im.SetSpacing(spacing)
    im.SetOrigin(origin)
    return im


def test_resample_to_spacing_keeps_the_grid_centre_and_extent():
    im = _img(np.zeros((10, 20, 30), np.float32), spacing=(0.8, 0.8, 3.0), origin=(-5.0, 7.0, 100.0))
    out = resample_to_spacing(im, (1.0, 1.0, 1.0), "linear")
    assert out.GetSize() == (24, 16, 30)
    c_in = im.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in im.GetSize()])
    c_out = out.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in out.GetSize()])
    np.testing.assert_allclose(c_in, c_out, atol=1e-9)


def test_linear_resampling_reproduces_a_linear_ramp():
    z, y, x = np.mgrid[:12, :12, :12].astype(np.float32)
    im = _img(2 * x + 3 * y - z, spacing=(2.0, 2.0, 2.0))
    out = resample_to_spacing(im, (1.0, 1.0, 1.0), "linear")
    arr = sitk.GetArrayFromImage(out)
    zz, yy, xx = np.mgrid[: arr.shape[0], : arr.shape[1], : arr.shape[2]]
    # physical coordinate of output voxel i is origin_out + i; input index = phys / 2
    o = np.asarray(out.GetOrigin())
    px, py, pz = (o[0] + xx) / 2, (o[1] + yy) / 2, (o[2] + zz) / 2
    inside = (px >= 0) & (px <= 11) & (py >= 0) & (py <= 11) & (pz >= 0) & (pz <= 11)
    np.testing.assert_allclose(arr[inside], (2 * px + 3 * py - pz)[inside], atol=1e-4)


def test_pet_onto_ct_grid():
    pet = _img(np.ones((5, 5, 5), np.float32) * 3.0, spacing=(4.0, 4.0, 4.0), origin=(-2.0, -2.0, -2.0))
    ct = _img(np.zeros((14, 14, 14), np.float32), spacing=(1.0, 1.0, 1.0))
    out = resample_like(pet, ct, "linear", 0.0)
    assert out.GetSize() == ct.GetSize() and out.GetSpacing() == ct.GetSpacing()
    assert np.allclose(sitk.GetArrayFromImage(out), 3.0)  # CT centres 0..13 mm lie between the PET centres -2..14 mm


@pytest.mark.parametrize("method", ["nearest", "partial_volume"])
def test_mask_resampling_preserves_a_sphere_volume(method):
    spacing = (0.7, 0.7, 2.5)
    axes = [np.arange(n) * s for n, s in zip((20, 60, 60), spacing[::-1])]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    r = 12.0
    sphere = (x - 21) ** 2 + (y - 21) ** 2 + (z - 24) ** 2 <= r**2
    mask = _img(sphere.astype(np.uint8), spacing=spacing)
    ref = resample_to_spacing(_img(np.zeros(sphere.shape, np.float32), spacing=spacing), (1.0, 1.0, 1.0), "linear")
    out = resample_mask_like(mask, ref, method)
    assert out.GetPixelID() == sitk.sitkUInt8
    arr = sitk.GetArrayFromImage(out)
    assert set(np.unique(arr)) <= {0, 1}
    vol = arr.sum() * 1.0
    assert abs(vol / (4 / 3 * np.pi * r**3) - 1) < 0.05


def test_partial_volume_thresholds_at_one_half():
    # A one-voxel-wide slab at 2 mm spacing resampled to 1 mm: linear fractions are 1 at the
    # slab's centre and 0.5 half a coarse voxel away, so partial volume keeps both (>= 0.5),
    # while a shifted grid shows the threshold at work.
    arr = np.zeros((1, 1, 6), np.uint8)
    arr[0, 0, 2] = 1
    mask = _img(arr, spacing=(2.0, 2.0, 2.0))
    ref = _img(np.zeros((1, 1, 12), np.float32), spacing=(1.0, 2.0, 2.0), origin=(-0.25, 0.0, 0.0))
    pv = sitk.GetArrayFromImage(resample_mask_like(mask, ref, "partial_volume"))[0, 0]
    # fractions at x = -0.25 + i: the slab is centred at 4 mm; linear fraction = 1 - |x - 4| / 2
    x = -0.25 + np.arange(12)
    expected = np.clip(1 - np.abs(x - 4) / 2, 0, 1) >= 0.5
    np.testing.assert_array_equal(pv.astype(bool), expected)


def test_unknown_mask_method():
    m = _img(np.ones((3, 3, 3), np.uint8))
    ref = _img(np.zeros((4, 4, 4), np.float32), spacing=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="partial_volume"):
        resample_mask_like(m, ref, "cubic")


@pytest.mark.parametrize("spacing, shift", [((1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), ((2.1, 0.7, 3.3), (3.1, -7.2, 1.4)),
                                            ((1.0, 1.0, 1.0), (-9.0, 0.0, 6.0))])
def test_separable_resampling_equals_itk(spacing, shift):
    """radscore.imaging.separable (used by resample_like on parallel grids) gives ITK's values,
    including the default value outside the input and the mirror boundary near its edges."""
    from radscore.imaging import separable

    rng = np.random.default_rng(3)
    img = sitk.GetImageFromArray(rng.gamma(2.0, 1.5, (11, 13, 9)).astype(np.float32))
    img.SetSpacing((4.6875, 4.6875, 3.27))
    img.SetOrigin((-20.0, 5.0, 100.0))
    size, sp, origin = grid_for_spacing(img, spacing)
    ref = sitk.Image(size, sitk.sitkUInt8)
    ref.SetSpacing(sp)
    ref.SetOrigin([o + s for o, s in zip(origin, shift)])
    mask = sitk.Cast(img > 3.0, sitk.sitkUInt8)
    for image, code, default, fast in ((img, sitk.sitkBSpline, -7.0, separable.bspline_resample),
                                       (mask, sitk.sitkNearestNeighbor, 0.0, separable.nearest_resample)):
        f = sitk.ResampleImageFilter()
        f.SetReferenceImage(ref)
        f.SetInterpolator(code)
        f.SetDefaultPixelValue(default)
        f.SetOutputPixelType(image.GetPixelID())
        expected = sitk.GetArrayFromImage(f.Execute(image))
        got = fast(image, ref, default, separable.axis_maps(image, ref))
        assert same_grid(got, ref)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(got), expected)
