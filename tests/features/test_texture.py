"""radscore.features.texture against PyRadiomics' own feature classes, class by class.

The oracle is plain PyRadiomics (``radiomics.glcm.RadiomicsGLCM(image, mask, **settings)`` etc.
on SimpleITK images, with its C matrices), ``enableAllFeatures(); execute()``. Criterion as in
``test_parity.py``: |ours - PyRadiomics| <= 1e-6 * max(1, |PyRadiomics|), NaN equal to NaN,
and the same feature names in the same order.

Already-binned arrays are handed to PyRadiomics with ``binWidth: 1``: their lowest gray
level is 1 (as every PyRadiomics discretisation gives), so its binning returns them unchanged
(checked), absent gray levels included.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyrad_oracle as pyrad
import pytest
import SimpleITK as sitk
from radiomics import glcm, gldm, glrlm, glszm, imageoperations, ngtdm

from radscore.features import texture
from radscore.features.discretise import bin_image

CLASSES = {"glcm": glcm.RadiomicsGLCM, "glrlm": glrlm.RadiomicsGLRLM, "glszm": glszm.RadiomicsGLSZM,
           "gldm": gldm.RadiomicsGLDM, "ngtdm": ngtdm.RadiomicsNGTDM}


@pytest.fixture(autouse=True, scope="module")
def _quiet():
    pyrad.quiet_pyradiomics()  # PyRadiomics warns e.g. that Joint Average assumes a symmetric GLCM


def _close(ours: float, ref: float) -> bool:
    if np.isnan(ref):
        return bool(np.isnan(ours))
    return abs(ours - ref) <= 1e-6 * max(1.0, abs(ref))


def _sitk(arr: np.ndarray, spacing) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    return img


def _pyradiomics(name: str, image: np.ndarray, mask: np.ndarray, settings: dict, spacing) -> dict[str, float]:
    obj = CLASSES[name](_sitk(image, spacing), _sitk(mask.astype(np.uint8), spacing), **settings)
    obj.enableAllFeatures()
    with warnings.catch_warnings():  # its nanmean over all-NaN angles warns; radscore's must not
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: float(v) for k, v in obj.execute().items()}


def _check(image: np.ndarray, mask: np.ndarray, settings: dict, spacing=(1.0, 1.0, 1.0)) -> None:
    """Every class of ``texture_features`` equal to PyRadiomics' on ``image`` (raw or binned)."""
    settings = {"binWidth": 1, **settings, "label": 1}
    binned = bin_image(image, mask, **settings)
    ref_binned, _ = imageoperations.binImage(image, mask, **settings)
    assert np.array_equal(binned[mask], ref_binned[mask])
    ours = texture.texture_features(list(CLASSES), binned, mask, settings, np.unique(binned[mask]), spacing)
    assert list(ours) == list(CLASSES)
    for name in CLASSES:
        ref = _pyradiomics(name, image, mask, settings, spacing)
        assert list(ours[name]) == list(ref) == list(texture.FEATURE_NAMES[name]), name
        bad = {k: (ours[name][k], v) for k, v in ref.items() if not _close(ours[name][k], v)}
        assert not bad, f"{name} differs from PyRadiomics: {bad}"


def _random(seed: int, shape=(6, 9, 10), levels=6, fill=0.7):
    rng = np.random.default_rng(seed)
    return rng.integers(1, levels + 1, shape), rng.random(shape) < fill


@pytest.mark.parametrize("seed", range(4))
def test_random_binned_arrays(seed):
    binned, mask = _random(seed, levels=4 + 3 * seed)
    _check(binned, mask, {})


def test_flat_region():
    binned = np.full((5, 6, 7), 1)
    mask = np.zeros(binned.shape, bool)
    mask[1:4, 1:5, 2:6] = True
    _check(binned, mask, {})


def test_one_voxel_thick_voi():
    """Mask in one slice of a 3-D box: the 9 angles with a z component are empty (deleted)."""
    binned, _ = _random(11, shape=(4, 8, 9))
    mask = np.zeros(binned.shape, bool)
    mask[2, 1:7, 1:8] = True
    _check(binned, mask, {})
    mask = np.zeros(binned.shape, bool)
    mask[2, 3, :] = True  # a line: 12 of 13 angles empty
    _check(binned, mask, {})


def test_two_gray_levels():
    binned, mask = _random(12, levels=2)
    _check(binned, mask, {})
    _check(binned, mask, {"symmetricalGLCM": False})


def test_non_contiguous_gray_levels():
    rng = np.random.default_rng(13)
    binned = rng.choice([1, 4, 5, 11], size=(6, 7, 8))
    mask = rng.random(binned.shape) < 0.8
    _check(binned, mask, {})


def test_asymmetric_glcm():
    binned, mask = _random(14, levels=7)
    _check(binned, mask, {"symmetricalGLCM": False})
    # one origin gray level per angle in x, several neighbours: the non-symmetric marginals differ
    line = np.array([[[1, 1, 1, 2, 3]]])
    _check(line, np.ones(line.shape, bool), {"symmetricalGLCM": False})


@pytest.mark.parametrize("norm", ["euclidean", "manhattan", "infinity", "no_weighting"])
def test_weighting_norm(norm):
    binned, mask = _random(15, levels=6)
    _check(binned, mask, {"weightingNorm": norm}, spacing=(0.8, 1.0, 2.5))


def test_gldm_alpha_and_distances():
    binned, mask = _random(16, levels=8)
    _check(binned, mask, {"gldm_a": 1})
    _check(binned, mask, {"distances": [1, 2]})


def test_bin_count_and_bin_width_on_raw_values():
    rng = np.random.default_rng(17)
    values = rng.normal(0, 30, (7, 9, 8)).astype(np.float32)
    mask = rng.random(values.shape) < 0.75
    _check(values, mask, {"binCount": 16}, spacing=(0.7, 0.7, 3.0))
    _check(values, mask, {"binWidth": 10.0}, spacing=(0.7, 0.7, 3.0))


def test_force2d():
    binned, mask = _random(18, levels=5)
    _check(binned, mask, {"force2D": True, "force2Ddimension": 0})
    _check(binned, mask, {"force2D": True, "force2Ddimension": 1, "weightingNorm": "euclidean"},
           spacing=(0.8, 1.0, 2.5))


def test_isolated_voxels_all_angles_empty():
    """No two mask voxels are neighbours: every GLCM angle is empty and its features are NaN."""
    binned, _ = _random(19, levels=5)
    mask = np.zeros(binned.shape, bool)
    mask[0, 0, 0] = mask[2, 3, 3] = mask[4, 6, 7] = True
    _check(binned, mask, {})
    _check(binned, mask, {"symmetricalGLCM": False})
    _check(binned, mask, {"weightingNorm": "euclidean"})  # the single weighted angle sums to 0
    single = np.zeros(binned.shape, bool)
    single[2, 3, 3] = True
    _check(binned, single, {})


def test_shared_gldm_ngtdm_pass_equals_separate_classes():
    binned, mask = _random(20, levels=6)
    settings = {"gldm_a": 1}
    both = texture.texture_features(["gldm", "ngtdm"], binned, mask, settings)
    assert both["gldm"] == texture.gldm_features(binned, mask, settings)
    assert both["ngtdm"] == texture.ngtdm_features(binned, mask, settings)


def test_failure_names_the_class():
    """A 1-voxel box has no neighbour offsets: PyRadiomics' C code fails, so does radscore."""
    binned = np.ones((1, 1, 1), dtype=int)
    mask = np.ones((1, 1, 1), bool)
    with pytest.raises(Exception):
        _pyradiomics("glcm", binned, mask, {"binWidth": 1}, (1.0, 1.0, 1.0))
    with pytest.raises(texture.TextureError) as info:
        texture.texture_features(["firstorder", "glcm"], binned, mask, {})
    assert info.value.feature_class == "glcm"


def test_mcc_extreme_eigenvalues_equal_the_full_spectrum():
    """MCC's four extreme eigenvalues by bisection give the second-largest square that numpy's
    ``eigvalsh`` of the whole :math:`D^{-1/2} P D^{-1/2}` gives, on random symmetric GLCMs."""
    rng = np.random.default_rng(23)
    worst = 0.0
    for k in range(300):
        n, na = int(rng.integers(4, 60)), int(rng.integers(1, 14))
        P = rng.random((n, n, na))
        if k % 3 == 1:
            P *= rng.random(P.shape) < 0.1  # sparse, some gray levels without a pair
        elif k % 3 == 2:
            i, j = np.indices((n, n))
            P *= (np.abs(i - j) <= 2)[:, :, None]  # near-diagonal, as a smooth image's
        P += P.transpose(1, 0, 2)
        total = P.sum(axis=(0, 1))
        total[total == 0] = 1
        P /= total
        p = P.sum(1).T
        with np.errstate(divide="ignore"):
            inv = np.where(p > 0, 1 / np.sqrt(p), 0.0)
        S = P.transpose(2, 0, 1) * inv[:, :, None] * inv[:, None, :]
        expected = np.mean(np.sqrt(np.sort(np.linalg.eigvalsh(S) ** 2, axis=1)[:, -2]))
        worst = max(worst, abs(texture._mcc(P, total, True) - expected))
    assert worst < 1e-13, worst
