"""PyRadiomics' texture features (GLCM, GLRLM, GLSZM, GLDM, NGTDM), computed by radscore.

What it replaces: the engine used to instantiate ``radiomics.glcm.RadiomicsGLCM`` (and the
GLRLM, GLSZM, GLDM and NGTDM classes) once per image type and VOI, ~1300 objects per scan.
The matrices were already radscore's (:mod:`.matrices`); the post-processing and the feature
formulas were PyRadiomics' code, and most of an extraction's CPU time went to its per-feature
Python machinery around tiny arrays (class ``__init__``, ``execute``, a ``getattr`` and a
``nanmean`` per feature, GLCM's Python loop over the ``2 Ng`` diagonal sums, a general
eigenvalue problem for MCC), not to arithmetic.

Here each class is one function: the matrix from :mod:`.matrices` (GLDM and NGTDM from one
:func:`~.matrices.gldm_ngtdm` pass when both are wanted), PyRadiomics' post-processing
(deleting gray levels absent from the ROI, symmetrising and angle weighting, deleting empty
angles / run lengths / zone sizes / dependence sizes, normalisation, a sum of 0 made NaN or 1
as there), the shared intermediates once, every per-angle feature as one row of an
``(n_features, n_angles)`` array and a single NaN-aware mean over the angles.

The formulas are PyRadiomics 3.1.4's (``radiomics/{glcm,glrlm,glszm,gldm,ngtdm}.py``): same
``eps = np.spacing(1)`` terms, same special cases (flat region, division by 0), same array
layout and numpy operations where that costs nothing (down to ``np.delete``, whose result
layout sets numpy's summation order). On the simulated full-protocol patient of
``test_parity.py`` (3 images x 4 VOIs x 22 image types) GLRLM, GLSZM, GLDM and NGTDM agree
with PyRadiomics bit for bit, GLCM within 7e-13 relative except MCC (7e-10). Where a faster
form is used, only the summation order differs:

- GLCM :math:`p_{x+y}` and :math:`p_{x-y}`: one offset ``bincount`` instead of one boolean
  mask per k (same additions in the same order, identical);
- GLCM cluster tendency / shade / prominence grouped by k = i + j over :math:`p_{x+y}`
  (O(Ng) instead of O(Ng^2) powers);
- GLCM MCC for a symmetric GLCM from ``eigvalsh`` of :math:`D^{-1/2} P D^{-1/2}` (see
  :func:`_mcc`), ~1e-8 relative from PyRadiomics' ``eigvals`` of Q with its ``eps``.

Outputs are ``{feature name: float}`` with exactly the names, in the order, that PyRadiomics'
``execute()`` returns after ``enableAllFeatures()`` (deprecated features excluded).
``tests/features/test_texture.py`` holds each class to PyRadiomics' own on edge cases, and
``tests/features/test_parity.py`` the whole engine, within 1e-6 relative (NaN equal to NaN).

Segment-based extraction only: the matrices refuse voxel-based calls (no radscore path
makes them; ``radscore extract`` is segment-based).

References: Haralick RM, Shanmugam K, Dinstein I. Textural features for image classification.
IEEE Trans SMC 1973;3:610-621 (GLCM). Galloway MM. Texture analysis using gray level run
lengths. Comput Graph Image Process 1975;4:172-179 (GLRLM). Thibault G, Angulo J, Meyer F.
Advanced statistical matrices for texture characterization: application to cell
classification. IEEE Trans Biomed Eng 2014;61:630-637 (online 2013), and Thibault G et al.,
PRIP 2009 (GLSZM). Sun C, Wee WG. Neighboring gray level dependence matrix for texture
classification. Comput Vis Graph Image Process 1983;23:341-352 (GLDM). Amadasun M, King R.
Textural features corresponding to textural properties. IEEE Trans SMC 1989;19:1264-1274 (NGTDM). PyRadiomics documentation, "Radiomic Features"
(https://pyradiomics.readthedocs.io/en/latest/features.html); van Griethuysen JJM et al.,
Cancer Res 2017;77:e104.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from radscore.features import matrices

log = logging.getLogger(__name__)

__all__ = [
    "GLCM_NAMES", "GLRLM_NAMES", "GLSZM_NAMES", "GLDM_NAMES", "NGTDM_NAMES", "FEATURE_NAMES",
    "TextureError", "glcm_features", "glrlm_features", "glszm_features", "gldm_features",
    "ngtdm_features", "texture_features", "warm_up",
]

#: Feature names per class in the order of PyRadiomics' ``execute()`` after
#: ``enableAllFeatures()``: ``inspect.getmembers`` sorts the ``get<Name>FeatureValue``
#: methods by attribute name (so ``Id`` < ``Idm`` < ``Idmn`` < ``Idn`` < ``Imc1``, and
#: ``MCC`` < ``MaximumProbability``); deprecated features are not enabled and not listed
#: (GLCM Dissimilarity, Homogeneity1, Homogeneity2, SumVariance; GLDM
#: GrayLevelNonUniformityNormalized, DependencePercentage).
GLCM_NAMES: tuple[str, ...] = (
    "Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast", "Correlation",
    "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "Id", "Idm", "Idmn", "Idn", "Imc1", "Imc2",
    "InverseVariance", "JointAverage", "JointEnergy", "JointEntropy", "MCC", "MaximumProbability",
    "SumAverage", "SumEntropy", "SumSquares",
)
GLRLM_NAMES: tuple[str, ...] = (
    "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance", "HighGrayLevelRunEmphasis",
    "LongRunEmphasis", "LongRunHighGrayLevelEmphasis", "LongRunLowGrayLevelEmphasis", "LowGrayLevelRunEmphasis",
    "RunEntropy", "RunLengthNonUniformity", "RunLengthNonUniformityNormalized", "RunPercentage", "RunVariance",
    "ShortRunEmphasis", "ShortRunHighGrayLevelEmphasis", "ShortRunLowGrayLevelEmphasis",
)
GLSZM_NAMES: tuple[str, ...] = (
    "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance", "HighGrayLevelZoneEmphasis",
    "LargeAreaEmphasis", "LargeAreaHighGrayLevelEmphasis", "LargeAreaLowGrayLevelEmphasis",
    "LowGrayLevelZoneEmphasis", "SizeZoneNonUniformity", "SizeZoneNonUniformityNormalized", "SmallAreaEmphasis",
    "SmallAreaHighGrayLevelEmphasis", "SmallAreaLowGrayLevelEmphasis", "ZoneEntropy", "ZonePercentage",
    "ZoneVariance",
)
GLDM_NAMES: tuple[str, ...] = (
    "DependenceEntropy", "DependenceNonUniformity", "DependenceNonUniformityNormalized", "DependenceVariance",
    "GrayLevelNonUniformity", "GrayLevelVariance", "HighGrayLevelEmphasis", "LargeDependenceEmphasis",
    "LargeDependenceHighGrayLevelEmphasis", "LargeDependenceLowGrayLevelEmphasis", "LowGrayLevelEmphasis",
    "SmallDependenceEmphasis", "SmallDependenceHighGrayLevelEmphasis", "SmallDependenceLowGrayLevelEmphasis",
)
NGTDM_NAMES: tuple[str, ...] = ("Busyness", "Coarseness", "Complexity", "Contrast", "Strength")

#: Class name (PyRadiomics' ``featureClass`` key) -> feature names.
FEATURE_NAMES: dict[str, tuple[str, ...]] = {
    "glcm": GLCM_NAMES, "gldm": GLDM_NAMES, "glrlm": GLRLM_NAMES, "glszm": GLSZM_NAMES, "ngtdm": NGTDM_NAMES,
}

_EPS = np.spacing(1)


class TextureError(RuntimeError):
    """A texture class failed (e.g. a VOI box without neighbour offsets); names the class."""

    def __init__(self, feature_class: str, error: BaseException) -> None:
        super().__init__(str(error))
        self.feature_class = feature_class


# ---------------------------------------------------------------------------------------
# shared steps
# ---------------------------------------------------------------------------------------

def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    """``np.nanmean(x, axis=1)`` without its per-call overhead or all-NaN warning.

    Same arithmetic as numpy's: NaNs replaced by 0, the row summed, divided by the count of
    non-NaN values (0 / 0 = NaN for an all-NaN or empty row). Row sums of a C-contiguous 2-D
    array use the same pairwise summation as PyRadiomics' per-feature ``(1, Na)`` arrays.
    """
    nan = np.isnan(x)
    if nan.any():
        count = x.shape[1] - nan.sum(axis=1)
        x = np.where(nan, 0.0, x)
    else:
        count = x.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(x, axis=1) / count


def _levels(binned: np.ndarray, mask: np.ndarray, gray_levels: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Gray levels present in the ROI (sorted) and Ng = the largest, as PyRadiomics' ``_applyBinning``."""
    levels = np.unique(binned[mask]) if gray_levels is None else np.asarray(gray_levels)
    return levels, int(np.max(levels))


def _keep(P: np.ndarray, keep: np.ndarray, axis: int) -> np.ndarray:
    """``P`` without the entries where ``keep`` is False along ``axis``, by ``np.delete`` as PyRadiomics.

    ``np.delete`` lays its result out differently for one index (a C-contiguous copy) and for
    several or none (a boolean index; not C-contiguous for axis > 0). Going through it keeps
    PyRadiomics' memory layout, so numpy reduces in the same order and most sums agree bit
    for bit.
    """
    return np.delete(P, np.flatnonzero(~keep), axis)


def _present(P: np.ndarray, levels: np.ndarray, Ng: int, axes: Sequence[int]) -> np.ndarray:
    """``P`` restricted to the gray levels present in the ROI along ``axes`` (PyRadiomics deletes the others).

    Done even when none is absent: PyRadiomics' ``np.delete`` copies either way, and the
    in-place steps after it must not write into the caller's matrix.
    """
    keep = np.zeros(Ng, dtype=bool)
    keep[levels.astype(np.intp) - 1] = True
    for ax in axes:
        P = _keep(P, keep, ax)
    return P


def _angle_weights(angles: np.ndarray, norm: str, spacing: Sequence[float], exponential: bool) -> np.ndarray:
    """PyRadiomics' per-angle weights for ``weightingNorm``.

    ``spacing`` is SimpleITK's (x, y, z); angles are (z, y, x) offsets, hence the reversal.
    GLCM weights are :math:`e^{-d^2}` of the distance d in the norm (``exponential``), GLRLM
    weights d itself. An unknown norm weighs every angle 1, with PyRadiomics' warning.
    """
    d = np.abs(angles) * np.asarray(spacing, dtype=np.float64)[::-1]
    if norm == "infinity":
        w = np.max(d, axis=1)
        return np.exp(-w ** 2) if exponential else w
    if norm == "euclidean":
        s = np.sum(d ** 2, axis=1)
        return np.exp(-s) if exponential else np.sqrt(s)  # exp(-sqrt(s)^2) = exp(-s)
    if norm == "manhattan":
        w = np.sum(d, axis=1)
        return np.exp(-w ** 2) if exponential else w
    if norm != "no_weighting":
        log.warning('weighting norm "%s" is unknown, every angle is weighted 1', norm)
    return np.ones(len(angles))


def _merge_and_normalise(P: np.ndarray, angles: np.ndarray, settings: Mapping[str, Any],
                         spacing: Sequence[float], exponential: bool) -> tuple[np.ndarray, np.ndarray]:
    """Angle weighting, empty-angle deletion and the per-angle totals (GLCM and GLRLM; angles on the last axis).

    With ``weightingNorm`` the angles are summed into one, weighted. Otherwise angles with no
    count are dropped when there are several; a total of 0 left (all angles empty, or a
    single one) becomes NaN, so its features are NaN, as in PyRadiomics.
    """
    norm = settings.get("weightingNorm")
    if norm is not None:
        w = _angle_weights(angles, norm, spacing, exponential)
        P = np.sum(P * w, axis=-1, keepdims=True)
    total = np.sum(P, axis=(0, 1))
    if P.shape[-1] > 1:
        empty = total == 0
        if empty.any():
            keep = ~empty
            P = _keep(P, keep, P.ndim - 1)
            total = total[keep]
    total[total == 0] = np.nan
    return P, total


def _distances(settings: Mapping[str, Any]) -> np.ndarray:
    return np.array(settings.get("distances", [1]))


def _force2d(settings: Mapping[str, Any]) -> tuple[bool, int]:
    return settings.get("force2D", False), settings.get("force2Ddimension", 0)


# ---------------------------------------------------------------------------------------
# GLCM
# ---------------------------------------------------------------------------------------

def _mcc(P: np.ndarray, total: np.ndarray, px: np.ndarray, py: np.ndarray, symmetric: bool) -> float:
    r"""Maximal correlation coefficient, PyRadiomics' definition, averaged over angles.

    PyRadiomics forms :math:`Q(i,j) = \sum_k p(i,k)p(j,k)/(p_x(i)p_y(k) + \epsilon)` and takes
    the square root of its second-largest eigenvalue from the general ``eigvals``, per angle
    (its slowest feature). For a symmetric GLCM (the default), without the ``eps``,
    :math:`Q = D^{-1}PD^{-1}P` with :math:`D = \mathrm{diag}(p_x)` is similar to :math:`S^2`,
    :math:`S = D^{-1/2}PD^{-1/2}` symmetric; so Q's eigenvalues are the squares of
    ``eigvalsh(S)`` (rows with :math:`p_x(i) = 0` give Q's zero eigenvalues). Where a gray
    level occurs about once (:math:`p_x p_y \sim 10^{-10}`) the ``eps`` makes the two differ by
    up to ~1e-8 relative (8.5e-9 measured on the benchmark patients). A non-symmetric GLCM
    takes PyRadiomics' own route. 1 for a flat region; NaN where P is not finite (PyRadiomics'
    ``eigvals`` raises there and the feature becomes NaN).

    ``P`` is (Ng, Ng, Na), normalised by the per-angle ``total``; ``px`` (Ng, 1, Na) and
    ``py`` (1, Ng, Na) its marginals.
    """
    if np.isnan(total).any():  # P holds counts / total: NaN exactly where a total is
        return float("nan")
    A = P.transpose(2, 0, 1)  # (Na, Ng, Ng): numpy.linalg works on the last two axes
    if symmetric:
        if A.shape[1] < 2:
            return 1.0
        p = px[:, 0, :].T
        with np.errstate(divide="ignore"):
            inv = np.where(p > 0, 1.0 / np.sqrt(p), 0.0)
        S = A * inv[:, :, None] * inv[:, None, :]
        ev = np.sort(np.linalg.eigvalsh(S) ** 2, axis=1)
        return float(_nanmean_rows(np.sqrt(ev[None, :, -2]))[0])
    pxa, pya = px[:, 0, :].T, py[0].T  # (Na, Ng)
    W = A / (pxa[:, :, None] * pya[:, None, :] + _EPS)
    Q = W @ A.transpose(0, 2, 1)
    ev = np.linalg.eigvals(Q)
    ev.sort()  # complex eigenvalues sort by real part, as PyRadiomics'
    if ev.shape[1] < 2:
        return 1.0
    with np.errstate(invalid="ignore"):
        value = np.nanmean(np.sqrt(ev[:, -2])) if ev.shape[0] else np.nan
    return float(np.real(value))


def glcm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                  gray_levels: np.ndarray | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0)
                  ) -> dict[str, float]:
    """PyRadiomics' GLCM features (``RadiomicsGLCM``) of one discretised ROI.

    Parameters
    ----------
    binned : ndarray of int, shape (z, y, x)
        Gray levels (1..Ng inside the mask), PyRadiomics' ``binImage`` output.
    mask : ndarray of bool, same shape
    settings : mapping
        PyRadiomics ``setting`` values; read here: ``distances`` ([1]), ``symmetricalGLCM``
        (True), ``weightingNorm`` (None), ``force2D`` (False), ``force2Ddimension`` (0).
    gray_levels : ndarray of int, optional
        ``np.unique(binned[mask])`` if already known.
    spacing : sequence of float
        Voxel spacing (x, y, z), SimpleITK's order; used by ``weightingNorm`` only.

    Returns
    -------
    dict of str to float
        :data:`GLCM_NAMES` in that order.
    """
    levels, Ng = _levels(binned, mask, gray_levels)
    P, angles = matrices.calculate_glcm(binned, mask, _distances(settings), Ng, *_force2d(settings))
    P = _present(P[0], levels, Ng, (0, 1))  # (n, n, Na), PyRadiomics' layout without the voxel axis
    if settings.get("symmetricalGLCM", True):
        P += P.transpose(1, 0, 2).copy()  # in place, as PyRadiomics: keeps P's layout
    P, total = _merge_and_normalise(P, angles, settings, spacing, exponential=True)
    P /= total

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lv = levels.astype(np.float64)
        i, j = lv[:, None, None], lv[None, :, None]  # (n, 1, 1), (1, n, 1)
        k_sum = np.arange(2, 2 * Ng + 1, dtype=np.float64)[:, None]
        k_diff = np.arange(0, Ng, dtype=np.float64)[:, None]
        na = P.shape[2]
        px = P.sum(1, keepdims=True)  # (n, 1, Na)
        py = P.sum(0, keepdims=True)  # (1, n, Na)
        ux = np.sum(i * P, (0, 1), keepdims=True)
        uy = np.sum(j * P, (0, 1), keepdims=True)
        # p_{x+y}(k) and p_{x-y}(k): one bincount over (k, angle) bins, ravelled in P's order
        lvi = levels.astype(np.intp)
        k_of = (lvi[:, None] + lvi[None, :] - 2)[:, :, None] * na + np.arange(na)
        d_of = np.abs(lvi[:, None] - lvi[None, :])[:, :, None] * na + np.arange(na)
        flat = P.ravel()
        p_sum = np.bincount(k_of.ravel(), flat, len(k_sum) * na).reshape(len(k_sum), na)
        p_diff = np.bincount(d_of.ravel(), flat, len(k_diff) * na).reshape(len(k_diff), na)
        hxy = -np.sum(P * np.log2(P + _EPS), (0, 1))

        # cluster moments grouped by k = i + j: sum_k (k - ux - uy)^n p_{x+y}(k)
        dk = k_sum - ux[0] - uy[0]
        dk2 = dk ** 2
        tendency = np.sum(dk2 * p_sum, 0)
        shade = np.sum(dk2 * dk * p_sum, 0)
        prominence = np.sum(dk2 * dk2 * p_sum, 0)

        sq_x = np.sum(P * ((i - ux) ** 2), (0, 1), keepdims=True)  # also Sum of Squares
        sq_y = np.sum(P * ((j - uy) ** 2), (0, 1), keepdims=True)
        sigxy = sq_x ** 0.5 * sq_y ** 0.5
        corm = np.sum(P * (i - ux) * (j - uy), (0, 1), keepdims=True)
        corr = corm / (sigxy + _EPS)
        corr[sigxy == 0] = 1  # a flat marginal: PyRadiomics' convention
        diff_avg = np.sum(k_diff * p_diff, 0)

        hx = -np.sum(px * np.log2(px + _EPS), (0, 1))
        hy = -np.sum(py * np.log2(py + _EPS), (0, 1))
        pxpy = px * py
        log_pxpy = np.log2(pxpy + _EPS)
        hxy1 = -np.sum(P * log_pxpy, (0, 1))
        hxy2 = -np.sum(pxpy * log_pxpy, (0, 1))
        div = np.fmax(hx, hy)
        imc1 = hxy - hxy1
        imc1[div != 0] /= div[div != 0]
        imc1[div == 0] = 0
        imc2 = (1 - np.e ** (-2 * (hxy2 - hxy))) ** 0.5  # NaN for a negative radicand, skipped by the mean
        imc2[hxy2 == hxy] = 0

        per_angle = np.array([
            np.sum(P * (i * j), (0, 1)),                                  # Autocorrelation
            prominence, shade, tendency,                                  # Cluster*
            np.sum(P * (np.abs(i - j) ** 2), (0, 1)),                     # Contrast
            corr[0, 0],                                                   # Correlation
            diff_avg,                                                     # DifferenceAverage
            -np.sum(p_diff * np.log2(p_diff + _EPS), 0),                  # DifferenceEntropy
            np.sum(p_diff * ((k_diff - diff_avg) ** 2), 0),               # DifferenceVariance
            np.sum(p_diff / (1 + k_diff), 0),                             # Id
            np.sum(p_diff / (1 + k_diff ** 2), 0),                        # Idm
            np.sum(p_diff / (1 + (k_diff ** 2) / (Ng ** 2)), 0),          # Idmn
            np.sum(p_diff / (1 + (k_diff / Ng)), 0),                      # Idn
            imc1, imc2,                                                   # Imc1, Imc2
            np.sum(p_diff[1:] / k_diff[1:] ** 2, 0),                      # InverseVariance (k = 0 skipped)
            # JointAverage: PyRadiomics takes a plain mean of ux; an angle's ux is NaN only when
            # every angle is (an empty angle is deleted unless it is the only one), so the
            # NaN-aware mean gives the same value
            ux[0, 0],
            np.sum(P ** 2, (0, 1)),                                       # JointEnergy
            hxy,                                                          # JointEntropy
            np.amax(P, (0, 1)) if na else np.empty(0),                    # MaximumProbability
            np.sum(k_sum * p_sum, 0),                                     # SumAverage
            -np.sum(p_sum * np.log2(p_sum + _EPS), 0),                    # SumEntropy
            sq_x[0, 0],                                                   # SumSquares
        ]).reshape(23, na)
        means = _nanmean_rows(per_angle)
        mcc = _mcc(P, total, px, py, bool(settings.get("symmetricalGLCM", True)))
    values = [float(x) for x in means]
    values.insert(GLCM_NAMES.index("MCC"), mcc)
    return dict(zip(GLCM_NAMES, values))


# ---------------------------------------------------------------------------------------
# GLRLM
# ---------------------------------------------------------------------------------------

def glrlm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                   gray_levels: np.ndarray | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0)
                   ) -> dict[str, float]:
    """PyRadiomics' GLRLM features (``RadiomicsGLRLM``) of one discretised ROI.

    Arguments as :func:`glcm_features`; settings read: ``weightingNorm``, ``force2D``,
    ``force2Ddimension``. Run lengths up to the longest side of the array (PyRadiomics' Nr).

    Returns
    -------
    dict of str to float
        :data:`GLRLM_NAMES` in that order.
    """
    levels, Ng = _levels(binned, mask, gray_levels)
    P, angles = matrices.calculate_glrlm(binned, mask, Ng, int(np.max(binned.shape)), *_force2d(settings))
    P = _present(P[0], levels, Ng, (0,))  # (n, Nr, Na)
    P, n_runs = _merge_and_normalise(P, angles, settings, spacing, exponential=False)
    pr = np.sum(P, 0)  # (Nr, Na)
    pg = np.sum(P, 1)  # (n, Na)
    iv = levels.astype(np.float64)
    jv = np.arange(1, P.shape[1] + 1, dtype=np.float64)
    used = np.sum(pr, 1) != 0
    P, jv, pr = _keep(P, used, 1), jv[used], pr[used]
    na = P.shape[2]

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        i2 = (iv ** 2)[:, None]           # (n, 1)
        j2 = (jv ** 2)[:, None]           # (Nr, 1)
        i2p, j2p = i2[:, :, None], j2[None, :, :]  # broadcast over P (n, Nr, Na)
        pg_n = pg / n_runs[None, :]
        u_i = np.sum(pg_n * iv[:, None], 0, keepdims=True)
        pr_n = pr / n_runs[None, :]
        u_j = np.sum(pr_n * jv[:, None], 0, keepdims=True)
        p_n = P / n_runs[None, None, :]
        sum_pg2 = np.sum(pg ** 2, 0)
        sum_pr2 = np.sum(pr ** 2, 0)
        per_angle = np.array([
            sum_pg2 / n_runs,                                             # GrayLevelNonUniformity
            sum_pg2 / (n_runs ** 2),                                      # ...Normalized
            np.sum(pg_n * (iv[:, None] - u_i) ** 2, 0),                   # GrayLevelVariance
            np.sum(pg * i2, 0) / n_runs,                                  # HighGrayLevelRunEmphasis
            np.sum(pr * j2, 0) / n_runs,                                  # LongRunEmphasis
            np.sum(P * (j2p * i2p), (0, 1)) / n_runs,                     # LongRunHighGrayLevelEmphasis
            np.sum(P * j2p / i2p, (0, 1)) / n_runs,                       # LongRunLowGrayLevelEmphasis
            np.sum(pg / i2, 0) / n_runs,                                  # LowGrayLevelRunEmphasis
            -np.sum(p_n * np.log2(p_n + _EPS), (0, 1)),                   # RunEntropy
            sum_pr2 / n_runs,                                             # RunLengthNonUniformity
            sum_pr2 / n_runs ** 2,                                        # ...Normalized
            n_runs / np.sum(pr * jv[:, None], 0),                         # RunPercentage
            np.sum(pr_n * (jv[:, None] - u_j) ** 2, 0),                   # RunVariance
            np.sum(pr / j2, 0) / n_runs,                                  # ShortRunEmphasis
            np.sum(P * i2p / j2p, (0, 1)) / n_runs,                       # ShortRunHighGrayLevelEmphasis
            np.sum(P / (i2p * j2p), (0, 1)) / n_runs,                     # ShortRunLowGrayLevelEmphasis
        ]).reshape(16, na)
        means = _nanmean_rows(per_angle)
    return dict(zip(GLRLM_NAMES, (float(x) for x in means)))


# ---------------------------------------------------------------------------------------
# GLSZM, GLDM: one matrix, no angles
# ---------------------------------------------------------------------------------------

def _zone_stats(P: np.ndarray, iv: np.ndarray, jv: np.ndarray, total: float) -> dict[str, float]:
    """The features GLSZM and GLDM share, from P (n, sizes) with empty sizes already removed.

    ``total`` is the number of zones (GLSZM's Nz) or of voxels (GLDM's Nz), 0 made 1.
    Keys are GLSZM's names ("Area", "Zone"); :func:`gldm_features` renames them.
    """
    ps = np.sum(P, 0)
    pg = np.sum(P, 1)
    i2 = iv ** 2
    j2 = jv ** 2
    pg_n = pg / total
    u_i = np.sum(pg_n * iv)
    ps_n = ps / total
    u_j = np.sum(ps_n * jv)
    p_n = P / total
    sum_pg2 = np.sum(pg ** 2)
    sum_ps2 = np.sum(ps ** 2)
    i2c, j2r = i2[:, None], j2[None, :]
    return {
        "GrayLevelNonUniformity": sum_pg2 / total,
        "GrayLevelNonUniformityNormalized": sum_pg2 / total ** 2,
        "GrayLevelVariance": np.sum(pg_n * (iv - u_i) ** 2),
        "HighGrayLevelZoneEmphasis": np.sum(pg * i2) / total,
        "LargeAreaEmphasis": np.sum(ps * j2) / total,
        "LargeAreaHighGrayLevelEmphasis": np.sum(P * i2c * j2r) / total,
        "LargeAreaLowGrayLevelEmphasis": np.sum(P * j2r / i2c) / total,
        "LowGrayLevelZoneEmphasis": np.sum(pg / i2) / total,
        "SizeZoneNonUniformity": sum_ps2 / total,
        "SizeZoneNonUniformityNormalized": sum_ps2 / total ** 2,
        "SmallAreaEmphasis": np.sum(ps / j2) / total,
        "SmallAreaHighGrayLevelEmphasis": np.sum(P * i2c / j2r) / total,
        "SmallAreaLowGrayLevelEmphasis": np.sum(P / (i2c * j2r)) / total,
        "ZoneEntropy": -np.sum(p_n * np.log2(p_n + _EPS)),
        "ZoneVariance": np.sum(ps_n * (jv - u_j) ** 2),
    }


def glszm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                   gray_levels: np.ndarray | None = None) -> dict[str, float]:
    """PyRadiomics' GLSZM features (``RadiomicsGLSZM``) of one discretised ROI.

    Arguments as :func:`glcm_features`; settings read: ``force2D``, ``force2Ddimension``.
    Zones are 26-connected in 3-D (8 with ``force2D``).

    Returns
    -------
    dict of str to float
        :data:`GLSZM_NAMES` in that order.
    """
    levels, Ng = _levels(binned, mask, gray_levels)
    P = matrices.calculate_glszm(binned, mask, Ng, int(np.count_nonzero(mask)), *_force2d(settings))
    P = _present(P[0], levels, Ng, (0,))  # (n, Ns)
    jv = np.arange(1, P.shape[1] + 1, dtype=np.float64)
    ps = np.sum(P, 0)
    n_zones = np.sum(P)
    n_zones = n_zones if n_zones != 0 else 1.0
    n_vox = np.sum(ps * jv)
    n_vox = n_vox if n_vox != 0 else 1.0
    used = ps != 0
    P, jv = _keep(P, used, 1), jv[used]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = _zone_stats(P, levels.astype(np.float64), jv, n_zones)
        out["ZonePercentage"] = n_zones / n_vox
    return {name: float(out[name]) for name in GLSZM_NAMES}


_GLDM_FROM_ZONE = {
    "DependenceEntropy": "ZoneEntropy",
    "DependenceNonUniformity": "SizeZoneNonUniformity",
    "DependenceNonUniformityNormalized": "SizeZoneNonUniformityNormalized",
    "DependenceVariance": "ZoneVariance",
    "GrayLevelNonUniformity": "GrayLevelNonUniformity",
    "GrayLevelVariance": "GrayLevelVariance",
    "HighGrayLevelEmphasis": "HighGrayLevelZoneEmphasis",
    "LargeDependenceEmphasis": "LargeAreaEmphasis",
    "LargeDependenceHighGrayLevelEmphasis": "LargeAreaHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis": "LargeAreaLowGrayLevelEmphasis",
    "LowGrayLevelEmphasis": "LowGrayLevelZoneEmphasis",
    "SmallDependenceEmphasis": "SmallAreaEmphasis",
    "SmallDependenceHighGrayLevelEmphasis": "SmallAreaHighGrayLevelEmphasis",
    "SmallDependenceLowGrayLevelEmphasis": "SmallAreaLowGrayLevelEmphasis",
}


def gldm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                  gray_levels: np.ndarray | None = None, matrix: np.ndarray | None = None) -> dict[str, float]:
    """PyRadiomics' GLDM features (``RadiomicsGLDM``) of one discretised ROI.

    GLDM's formulas are GLSZM's with dependence sizes for zone sizes and Nz the number of
    voxels (PyRadiomics' own note); GLDM has no ZonePercentage counterpart.

    Arguments as :func:`glcm_features`; settings read: ``distances``, ``gldm_a`` (0),
    ``force2D``, ``force2Ddimension``. ``matrix``: the (1, Ng, 2 Na + 1) GLDM if already
    computed (:func:`radscore.features.matrices.gldm_ngtdm`).

    Returns
    -------
    dict of str to float
        :data:`GLDM_NAMES` in that order.
    """
    levels, Ng = _levels(binned, mask, gray_levels)
    if matrix is None:
        matrix = matrices.calculate_gldm(binned, mask, _distances(settings), Ng, settings.get("gldm_a", 0),
                                         *_force2d(settings))
    P = _present(matrix[0], levels, Ng, (0,))  # (n, Nd)
    jv = np.arange(1, P.shape[1] + 1, dtype=np.float64)
    pd = np.sum(P, 0)
    used = pd != 0
    P, jv, pd = _keep(P, used, 1), jv[used], pd[used]
    n_vox = np.sum(pd)
    n_vox = n_vox if n_vox != 0 else 1.0
    iv = levels.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = _zone_stats(P, iv, jv, n_vox)
        # PyRadiomics multiplies j^2 i^2 first here, (P i^2) j^2 in GLSZM's counterpart
        out["LargeAreaHighGrayLevelEmphasis"] = np.sum(P * ((jv ** 2)[None, :] * (iv ** 2)[:, None])) / n_vox
    return {name: float(out[_GLDM_FROM_ZONE[name]]) for name in GLDM_NAMES}


# ---------------------------------------------------------------------------------------
# NGTDM
# ---------------------------------------------------------------------------------------

def ngtdm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                   gray_levels: np.ndarray | None = None, matrix: np.ndarray | None = None) -> dict[str, float]:
    """PyRadiomics' NGTDM features (``RadiomicsNGTDM``) of one discretised ROI.

    Arguments as :func:`gldm_features` (``matrix``: the (1, Ng, 3) NGTDM); settings read:
    ``distances``, ``force2D``, ``force2Ddimension``.

    PyRadiomics zeroes the terms of gray levels with :math:`p_i = 0` in Busyness, Complexity
    and Strength; after deleting the gray levels absent from the ROI, every :math:`p_i > 0`
    (each ROI voxel is counted, with or without neighbours), so there are none to zero.

    Returns
    -------
    dict of str to float
        :data:`NGTDM_NAMES` in that order.
    """
    _, Ng = _levels(binned, mask, gray_levels)
    if matrix is None:
        matrix = matrices.calculate_ngtdm(binned, mask, _distances(settings), Ng, *_force2d(settings))
    P = matrix[0]
    P = P[P[:, 0] != 0]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        n_vox = np.sum(P[:, 0])
        p = P[:, 0] / n_vox
        s = P[:, 1]
        iv = P[:, 2]
        n_levels = np.count_nonzero(p > 0)
        ps = p * s
        sum_ps = np.sum(ps)
        sum_s = np.sum(s)
        di = iv[:, None] - iv[None, :]
        di2 = di ** 2

        coarseness = 1 / sum_ps if sum_ps != 0 else 1e6
        div = n_levels * (n_levels - 1)
        contrast = np.sum(p[:, None] * p[None, :] * di2) * sum_s / n_vox
        contrast = contrast / div if div != 0 else 0.0
        ip = iv * p
        absdiff = np.sum(np.abs(ip[:, None] - ip[None, :]))
        busyness = sum_ps / absdiff if absdiff != 0 else 0.0
        divisor = p[:, None] + p[None, :]
        divisor[divisor == 0] = 1
        complexity = np.sum(np.abs(di) * (ps[:, None] + ps[None, :]) / divisor) / n_vox
        strength = np.sum((p[:, None] + p[None, :]) * di2)
        strength = strength / sum_s if sum_s != 0 else 0.0
    return {"Busyness": float(busyness), "Coarseness": float(coarseness), "Complexity": float(complexity),
            "Contrast": float(contrast), "Strength": float(strength)}


# ---------------------------------------------------------------------------------------
# all classes of one ROI
# ---------------------------------------------------------------------------------------

def texture_features(classes: Iterable[str], binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                     gray_levels: np.ndarray | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0)
                     ) -> dict[str, dict[str, float]]:
    """The requested texture classes of one discretised ROI, ``{class: {feature: value}}``.

    ``classes`` may name other classes too (``firstorder``, ``shape``): they are skipped.
    GLDM and NGTDM share one neighbourhood pass when both are requested.

    Raises
    ------
    TextureError
        When a class fails (its ``feature_class`` names it; the cause is chained).
    """
    classes = [c for c in classes if c in FEATURE_NAMES]
    levels, Ng = _levels(binned, mask, gray_levels)
    gldm_m = ngtdm_m = None
    out: dict[str, dict[str, float]] = {}
    for c in classes:
        try:
            if c == "glcm":
                out[c] = glcm_features(binned, mask, settings, levels, spacing)
            elif c == "glrlm":
                out[c] = glrlm_features(binned, mask, settings, levels, spacing)
            elif c == "glszm":
                out[c] = glszm_features(binned, mask, settings, levels)
            else:
                if gldm_m is None and ngtdm_m is None and "gldm" in classes and "ngtdm" in classes:
                    gldm_m, ngtdm_m = matrices.gldm_ngtdm(binned, mask, _distances(settings), Ng,
                                                          settings.get("gldm_a", 0), *_force2d(settings))
                if c == "gldm":
                    out[c] = gldm_features(binned, mask, settings, levels, gldm_m)
                else:
                    out[c] = ngtdm_features(binned, mask, settings, levels, ngtdm_m)
        except Exception as exc:
            raise TextureError(c, exc) from exc
    return out


def warm_up() -> None:
    """Load the numba matrix kernels in this process (see :func:`radscore.features.matrices.warm_up`)."""
    matrices.warm_up()
