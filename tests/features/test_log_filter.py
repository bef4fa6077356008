"""``log_on_box`` equals SimpleITK's whole-image LaplacianRecursiveGaussian (PyRadiomics' LoG).

Oracle: ``sitk.LaplacianRecursiveGaussianImageFilter`` with ``NormalizeAcrossScale(True)`` on
the whole image, as in ``radiomics/imageoperations.py::getLoGImage``. Criterion: float32
bit-equal on >= 99.999 % of the box voxels (pooled per test) and every difference within
2 ulp of the reference value; with ``pad_sigmas=None`` (whole lines) bit-equal everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from radscore.features.filters import bounding_box
from radscore.features.log_filter import log_on_box


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
