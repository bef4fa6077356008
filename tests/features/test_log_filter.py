"""``log_on_box`` equals SimpleITK's whole-image LaplacianRecursiveGaussian (PyRadiomics' LoG).

Oracle: ``sitk.LaplacianRecursiveGaussianImageFilter`` with ``NormalizeAcrossScale(True)`` on
the whole image, as in ``radiomics/imageoperations.py::getLoGImage``. Criterion: float32
bit-equal on >= 99.999 % of the box voxels (pooled per test) and every difference within
2 ulp of the reference value; with ``pad_sigmas=None`` (whole lines) bit-equal everywhere.
Each 1-D pass alone (radscore's numba recursion) is bit-equal to SimpleITK's
``RecursiveGaussianImageFilter``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from radscore.features.filters import bounding_box
from radscore.features.log_filter import _recursive_gaussian, log_on_box


def _sitk_log(arr: np.ndarray, spacing_xyz, sigma: float) -> np.ndarray:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(s) for s in spacing_xyz))
    f = sitk.LaplacianRecursiveGaussianImageFilter()
    f.SetNormalizeAcrossScale(True)
    f.SetSigma(float(sigma))
    return sitk.GetArrayFromImage(f.Execute(img))


class _Tally:
    """Pooled count of voxels that differ at all, and the worst difference in ulp."""

    def __init__(self) -> None:
        self.n = self.differ = 0
        self.worst_ulp = 0.0

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        assert got.dtype == np.float32 and got.shape == ref.shape
        self.n += ref.size
        self.differ += int(np.count_nonzero(got != ref))
        ulp = np.spacing(np.abs(ref)).astype(np.float64)
        self.worst_ulp = max(self.worst_ulp, float(np.max(np.abs(got.astype(np.float64) - ref) / ulp)))

    def check(self) -> None:
        print(f"LoG: {self.differ} of {self.n} box voxels differ, worst {self.worst_ulp:g} ulp")
        assert self.differ <= 1e-5 * self.n
        assert self.worst_ulp <= 2


def _sitk_pass(arr: np.ndarray, spacing_xyz, sigma: float, direction: int, order: int) -> np.ndarray:
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    img.SetSpacing(tuple(float(s) for s in spacing_xyz))
    f = sitk.RecursiveGaussianImageFilter()
    f.SetSigma(float(sigma))
    f.SetNormalizeAcrossScale(True)
    f.SetOrder(order)
    f.SetDirection(direction)
    return sitk.GetArrayFromImage(f.Execute(img))


def _smooth_image(shape, seed):
    rng = np.random.default_rng(seed)
    return (ndi.gaussian_filter(rng.normal(0, 200, shape), 1.5) - 300).astype(np.float32)


@pytest.mark.slow
def test_benchmark_patient_union_box():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import extraction as bench

    arrays, vois = bench.simulate_patient(0)
    union = np.zeros_like(vois["tumor"])
    for v in vois.values():
        union |= v
    box = bounding_box(union)
    tally = _Tally()
    for arr in arrays.values():
        for sigma in (1.0, 2.0, 3.0, 4.0, 5.0):
            ref = _sitk_log(arr, bench.SPACING, sigma)[box]
            tally.add(ref, log_on_box(arr, bench.SPACING, sigma, box))
    tally.check()


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0, 5.0])
def test_anisotropic_box_touching_edge(sigma):
    arr = _smooth_image((40, 64, 70), seed=3)
    spacing = (0.9, 0.9, 2.5)
    box = (slice(0, 9), slice(50, 64), slice(0, 15))  # touches 4 image faces
    ref = _sitk_log(arr, spacing, sigma)[box]
    tally = _Tally()
    tally.add(ref, log_on_box(arr, spacing, sigma, box))
    tally.check()
    # whole lines: the same ITK passes on the same lines, so bit-equal everywhere
    np.testing.assert_array_equal(log_on_box(arr, spacing, sigma, box, pad_sigmas=None), ref)


@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_box_far_from_edges(sigma):
    arr = _smooth_image((50, 150, 150), seed=4)
    arr[20:30, 60:90, 60:90] += 800  # a bright block: sharp edges inside the box
    spacing = (0.9, 0.9, 2.5)
    box = (slice(20, 30), slice(60, 90), slice(55, 95))
    from radscore.features.log_filter import padded_region

    outer = padded_region(arr.shape, spacing, sigma, box)
    assert all(0 < o.start and o.stop < n for o, n in zip(outer, arr.shape)), "pad must stay inside"
    ref = _sitk_log(arr, spacing, sigma)[box]
    tally = _Tally()
    tally.add(ref, log_on_box(arr, spacing, sigma, box))
    tally.check()


def test_small_pad_is_detected():
    """The comparison is sharp enough to see a pad that is too small."""
    arr = _smooth_image((50, 150, 150), seed=4)
    spacing = (0.9, 0.9, 2.5)
    box = (slice(20, 30), slice(60, 90), slice(55, 95))
    ref = _sitk_log(arr, spacing, 1.5)[box]
    got = log_on_box(arr, spacing, 1.5, box, pad_sigmas=4.0)
    assert np.count_nonzero(got != ref) > 1e-5 * ref.size


def test_rejects_non_float32():
    with pytest.raises(TypeError):
        log_on_box(np.zeros((8, 8, 8)), (1.0, 1.0, 1.0), 1.0, (slice(2, 4),) * 3)


@pytest.mark.parametrize("order", [0, 2])
@pytest.mark.parametrize("direction", [0, 1, 2])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 1.3, 3.1)])
@pytest.mark.parametrize("sigma", [0.2, 1.0, 2.5, 9.0])  # 0.2 mm: sigma well under the spacing
def test_pass_equals_sitk(order, direction, spacing, sigma):
    arr = np.random.default_rng(5).normal(0, 300, (9, 12, 15)).astype(np.float32)
    np.testing.assert_array_equal(_recursive_gaussian(arr, spacing, sigma, direction, order),
                                  _sitk_pass(arr, spacing, sigma, direction, order))


def test_pass_coefficients_over_many_scales():
    """Any coefficient 1 ulp off shows in the impulse and step responses: sweep sigma / spacing."""
    rng = np.random.default_rng(6)
    arr = np.zeros((5, 4, 40), np.float32)
    arr[0, :, 20] = 1000.0  # impulses
    arr[1, :, 13:] = 1.0  # steps
    arr[2] = rng.normal(0, 1, (4, 40))
    arr[3] = 1000.0  # constant lines: the border coefficients BN, BM cancel the recursion
    arr[4] = np.linspace(-300, 500, 40)  # ramps
    for sigma, sp in zip(np.exp(rng.uniform(-2.5, 2.5, 60)), np.exp(rng.uniform(-1.5, 1.5, 60))):
        for order in (0, 2):
            spacing = (float(sp), 1.0, 1.0)
            np.testing.assert_array_equal(_recursive_gaussian(arr, spacing, sigma, 0, order),
                                          _sitk_pass(arr, spacing, sigma, 0, order),
                                          err_msg=f"sigma {sigma!r}, spacing {sp!r}, order {order}")


@pytest.mark.parametrize("scale", [1e30, 1e-38, 1e38])
def test_pass_extreme_values(scale):
    """Huge and subnormal outputs; at 1e38 a few second derivatives overflow float32 to inf."""
    rng = np.random.default_rng(7)
    arr = (rng.normal(0, 1, (6, 7, 8)) * scale).astype(np.float32)
    arr[0] *= np.float32(1e-20)  # mixed magnitudes
    for sigma in (0.4, 3.0):
        for direction in range(3):
            for order in (0, 2):
                got = _recursive_gaussian(arr, (0.5, 0.8, 2.0), sigma, direction, order)
                np.testing.assert_array_equal(got, _sitk_pass(arr, (0.5, 0.8, 2.0), sigma, direction, order))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_pass_short_lines(n):
    """ITK refuses lines under 4 voxels; 4 and 5 voxels use only the border initialisation."""
    arr = np.random.default_rng(8).normal(0, 100, (n, 3, 2)).astype(np.float32)
    for order in (0, 2):
        if n < 4:
            with pytest.raises(RuntimeError, match="less than 4"):
                _sitk_pass(arr, (1.0, 1.0, 2.0), 1.5, 2, order)
            with pytest.raises(ValueError, match="at least 4"):
                _recursive_gaussian(arr, (1.0, 1.0, 2.0), 1.5, 2, order)
        else:
            np.testing.assert_array_equal(_recursive_gaussian(arr, (1.0, 1.0, 2.0), 1.5, 2, order),
                                          _sitk_pass(arr, (1.0, 1.0, 2.0), 1.5, 2, order))


def test_pass_reads_views():
    """Strided and read-only views (as log_on_box passes them) give the values of their copies."""
    arr = np.random.default_rng(9).normal(0, 100, (20, 30, 40)).astype(np.float32)
    read_only = arr[2:, :, 1:]
    read_only.flags.writeable = False  # SimpleITK's GetArrayViewFromImage
    for view in (arr[3:17, 2:29:2, 5:35], arr.transpose(2, 0, 1)[:, 4:, :], read_only):
        for direction in range(3):
            np.testing.assert_array_equal(_recursive_gaussian(view, (0.9, 1.1, 2.0), 1.7, direction, 2),
                                          _sitk_pass(view, (0.9, 1.1, 2.0), 1.7, direction, 2))
