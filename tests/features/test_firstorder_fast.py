"""Batched first-order features (:mod:`radscore.features.firstorder`) against PyRadiomics.

The oracle is PyRadiomics' own ``RadiomicsFirstOrder`` class run on the same image and
mask (``enableAllFeatures(); execute()``), one call per image type; ours computes all
image types of a VOI in one call. Criterion: |ours - PyRadiomics| <= 1e-9 * max(1, |PyRadiomics|)
for every feature, and the same feature names in the same order.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pyrad_oracle as pyrad
import pytest
import SimpleITK as sitk
from radiomics import firstorder, imageoperations

from radscore.catalog import SEED_IMAGE_TYPES
from radscore.features.filters import bounding_box, filtered_images
from radscore.features.firstorder import FEATURE_NAMES, firstorder_features

TOL = 1e-9


def _sitk(arr: np.ndarray, spacing) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(s) for s in spacing))
    return img


def _pyradiomics(arr: np.ndarray, mask: np.ndarray, spacing, **kw) -> dict[str, float]:
    """PyRadiomics' first-order class on one image (the oracle)."""
    pyrad.quiet_pyradiomics()
    with warnings.catch_warnings():  # its nanmean of an empty slice (rMAD of 2 voxels) warns
        warnings.simplefilter("ignore", RuntimeWarning)
        return _pyradiomics_run(arr, mask, spacing, **kw)


def _pyradiomics_run(arr, mask, spacing, **kw):
    obj = firstorder.RadiomicsFirstOrder(_sitk(arr, spacing), _sitk(mask.astype(np.uint32), spacing), label=1, **kw)
    obj.enableAllFeatures()
    return {k: float(v) for k, v in obj.execute().items()}


def _ours(arrays: list[np.ndarray], mask: np.ndarray, spacing, **kw) -> list[dict[str, float]]:
    """Our batched call on the stacked image types, inputs prepared as the engine does."""
    values = np.stack([a[mask].astype(np.float64) for a in arrays])
    gray = np.stack([imageoperations.binImage(a, mask, **kw)[0][mask] for a in arrays])
    return firstorder_features(values, gray, spacing, voxel_array_shift=kw.get("voxelArrayShift", 0))


def _worst(arrays: list[np.ndarray], mask: np.ndarray, spacing, **kw) -> float:
    """Max relative difference over all image types and features; asserts names and order."""
    ours = _ours(arrays, mask, spacing, **kw)
    worst = 0.0
    for arr, got in zip(arrays, ours):
        ref = _pyradiomics(arr, mask, spacing, **kw)
        assert list(got) == list(ref), "feature names / order differ from PyRadiomics"
        for k, r in ref.items():
            if np.isnan(r):  # PyRadiomics' rMAD of 2 distinct voxels (no voxel in [P10, P90])
                assert k == "RobustMeanAbsoluteDeviation" and np.isnan(got[k]), (k, got[k], r)
                continue
            assert np.isfinite(r) and np.isfinite(got[k]), (k, got[k], r)
            worst = max(worst, abs(got[k] - r) / max(1.0, abs(r)))
    return worst


def test_names_are_pyradiomics_enable_all_order():
    obj_names = [k for k, dep in firstorder.RadiomicsFirstOrder.getFeatureNames().items() if not dep]
    assert list(FEATURE_NAMES) == obj_names
    assert "StandardDeviation" not in FEATURE_NAMES  # deprecated: not enabled by enableAllFeatures()


# --- the benchmark patient: every image type of the full protocol, every VOI ------------------

@pytest.fixture(scope="module")
def patient():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import extraction as bench

    arrays, vois = bench.simulate_patient(0)
    return bench._images(arrays), vois


@pytest.mark.parametrize("image_name, disc", [
    ("ct", {"binWidth": 25.0}), ("pet", {"binWidth": 0.25}), ("petct", {"binCount": 64}),
])
def test_benchmark_patient_all_image_types(patient, image_name, disc):
    images, vois = patient
    image = images[image_name]
    spacing = image.GetSpacing()
    union = np.logical_or.reduce(list(vois.values()))
    ubox = bounding_box(union)
    typed = dict(filtered_images(image, ubox, SEED_IMAGE_TYPES, union, disc))
    assert len(typed) == 22
    assert any(a.min() < 0 for a in typed.values())  # LoG / wavelet bands: negative values covered
    worst = 0.0
    for voi in vois.values():
        own = bounding_box(voi)
        rel = tuple(slice(s.start - u.start, s.stop - u.start) for s, u in zip(own, ubox))
        arrays = [np.ascontiguousarray(a[rel]) for a in typed.values()]
        worst = max(worst, _worst(arrays, voi[own], spacing, **disc))
    assert worst <= TOL, worst


# --- small synthetic cases: edge cases of each formula ------------------------------------------

SPACING = (0.7, 0.9, 2.5)


def _grid(rng, shape=(5, 6, 7)):
    mask = rng.random(shape) < 0.6
    return mask


def _types(rng, shape):
    """Several 'image types' on one grid: float32 and float64, negative, with many ties."""
    base = rng.normal(0, 300, shape)
    return [
        base.astype(np.float32),
        (base / 1000).astype(np.float64),
        np.round(base / 50).astype(np.float32) * 7,  # heavy ties
        -np.abs(base).astype(np.float32) - 0.1,  # all negative
        np.exp(base / 400).astype(np.float64),  # skewed
    ]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("disc", [{"binWidth": 25.0}, {"binWidth": 0.1}, {"binCount": 32}])
def test_random_images(seed, disc):
    rng = np.random.default_rng(seed)
    mask = _grid(rng)
    assert _worst(_types(rng, mask.shape), mask, SPACING, **disc) <= TOL


def test_wide_gray_level_range_uses_unique(monkeypatch):
    # the per-row np.unique fallback (sparse, wide gray-level spans) gives the same histograms
    from radscore.features import firstorder as fo

    rng = np.random.default_rng(11)
    mask = _grid(rng)
    arrays = _types(rng, mask.shape)
    fast = _ours(arrays, mask, SPACING, binWidth=0.1)
    monkeypatch.setattr(fo, "_BINCOUNT_MAX_CELLS", 0)
    assert _ours(arrays, mask, SPACING, binWidth=0.1) == fast
    assert _worst(arrays, mask, SPACING, binWidth=0.1) <= TOL


@pytest.mark.parametrize("n_vox", [1, 2, 3, 8, 599, 600, 601, 1000])
def test_voxel_counts(n_vox):
    # odd/even counts; PyRadiomics' nanmedian switches algorithm at 600 voxels
    rng = np.random.default_rng(n_vox)
    shape = (10, 10, 12)
    mask = np.zeros(shape, bool)
    mask.flat[rng.choice(mask.size, n_vox, replace=False)] = True
    assert _worst(_types(rng, shape), mask, SPACING, binWidth=25.0) <= TOL


def test_two_voxels_rmad_is_nan_as_pyradiomics():
    shape = (3, 3, 3)
    mask = np.zeros(shape, bool)
    mask[1, 1, 1:3] = True
    arr = np.zeros(shape)
    arr[1, 1, 1:3] = (4.0, 9.0)
    ref = _pyradiomics(arr, mask, SPACING, binWidth=1.0)
    assert np.isnan(ref["RobustMeanAbsoluteDeviation"])
    with np.errstate(all="raise"):  # no warning leaks from ours
        got = _ours([arr, arr[:, ::-1, :].copy()], mask, SPACING, binWidth=1.0)
    assert np.isnan(got[0]["RobustMeanAbsoluteDeviation"])
    assert _worst([arr], mask, SPACING, binWidth=1.0) <= TOL


@pytest.mark.parametrize("value", [0.1, 1.0 / 3.0, -1234.5678, 0.0])
def test_flat_region(value):
    # A constant VOI: the float mean of N copies need not equal the value, so PyRadiomics'
    # moments can be tiny but non-zero; skewness/kurtosis then follow its exact arithmetic.
    shape = (6, 9, 11)
    mask = np.zeros(shape, bool)
    mask[1:5, 2:8, 3:10] = True
    arrays = [np.full(shape, value, np.float64), np.full(shape, value, np.float32)]
    ref = _pyradiomics(arrays[0], mask, SPACING, binWidth=25.0)
    assert ref["Variance"] < 1e-20
    assert _worst(arrays, mask, SPACING, binWidth=25.0) <= TOL


def test_flat_region_exact_zero_moments():
    shape = (4, 4, 4)
    mask = np.ones(shape, bool)
    arrays = [np.full(shape, 2.0), np.full(shape, -8.0, np.float32)]
    got = _ours(arrays, mask, SPACING, binWidth=1.0)
    for row in got:
        assert row["Skewness"] == 0 and row["Kurtosis"] == 0 and row["Variance"] == 0
    assert _worst(arrays, mask, SPACING, binWidth=1.0) <= TOL


@pytest.mark.parametrize("shift", [0, 2000, 0.5])
def test_voxel_array_shift(shift):
    rng = np.random.default_rng(7)
    mask = _grid(rng)
    assert _worst(_types(rng, mask.shape), mask, SPACING, binWidth=25.0, voxelArrayShift=shift) <= TOL


def test_detects_a_wrong_value():
    # the comparison can fail: a perturbed input row shows up as a difference
    rng = np.random.default_rng(3)
    mask = _grid(rng)
    arr = rng.normal(0, 1, mask.shape)
    ours = _ours([arr * (1 + 1e-6)], mask, SPACING, binWidth=0.1)[0]
    ref = _pyradiomics(arr, mask, SPACING, binWidth=0.1)
    assert abs(ours["Energy"] - ref["Energy"]) > TOL * max(1.0, abs(ref["Energy"]))


def test_rejects_bad_input():
    v = np.ones((2, 3))
    with pytest.raises(ValueError):
        firstorder_features(v, np.ones((2, 4), int), SPACING)
    with pytest.raises(ValueError):
        firstorder_features(np.ones((2, 0)), np.ones((2, 0), int), SPACING)
    for bad in (np.nan, np.inf):
        v[0, 1] = bad
        with pytest.raises(ValueError):
            firstorder_features(v, np.ones((2, 3), int), SPACING)
