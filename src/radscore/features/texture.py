"""PyRadiomics' texture features (GLCM, GLRLM, GLSZM, GLDM, NGTDM), computed by radscore.

What it replaces: the engine used to instantiate ``radiomics.glcm.RadiomicsGLCM`` (and the
GLRLM, GLSZM, GLDM and NGTDM classes) once per image type and VOI, ~1300 objects per scan.
The matrices were already radscore's (:mod:`.matrices`); the post-processing and the feature
formulas were PyRadiomics' code, and most of an extraction's CPU time went to its per-feature
Python machinery around tiny arrays (class ``__init__``, ``execute``, a ``getattr`` and a
``nanmean`` per feature, GLCM's Python loop over the ``2 Ng`` diagonal sums, a general
eigenvalue problem for MCC), not to arithmetic.

Here each class is one function: the matrix from :mod:`.matrices` (GLDM and NGTDM from one
:func:`~.matrices.gldm_ngtdm` pass when both are wanted), PyRadiomics' post-processing where
it reshapes the matrix (GLCM's deletion of the gray levels absent from the ROI; symmetrising
and angle weighting; deleting empty angles; normalisation; a total of 0 made NaN), then one
numba kernel per class for all its formulas in a few passes over the matrix (every
per-angle feature as one row of an ``(n_features, n_angles)`` array, then a single NaN-aware
mean over the angles). The kernels read only the rows of the gray levels present and skip
the run lengths, zone sizes and dependence sizes no voxel has, where PyRadiomics deletes
them: an empty entry adds 0 to every sum.

The formulas are PyRadiomics 3.1.4's (``radiomics/{glcm,glrlm,glszm,gldm,ngtdm}.py``): same
``eps = np.spacing(1)`` terms, same special cases (flat region, division by 0), each term's
operands in PyRadiomics' order. Only the order of the additions in a sum can differ: GLCM's
are numpy's own on C-ordered arrays (:func:`_glcm_per_angle`), the other classes' run in
index order where numpy sums pairwise, and PyRadiomics' numpy order also follows the memory
layout ``np.delete`` happens to leave. On the simulated full-protocol patient of
``test_parity.py`` (3 images x 4 VOIs x 22 image types) GLRLM, GLSZM, GLDM and NGTDM agree
with PyRadiomics within 7e-15 relative, GLCM within 5e-13 except MCC (1.2e-9). Where a
faster form is used, only the summation order differs:

- GLCM :math:`p_{x+y}` and :math:`p_{x-y}`: accumulated in the first pass over P, in index
  order, instead of one boolean mask per k (the same additions in the same order when
  there are several angles);
- GLCM cluster tendency / shade / prominence grouped by k = i + j over :math:`p_{x+y}`
  (O(Ng) instead of O(Ng^2) powers);
- GLCM MCC for a symmetric GLCM from the eigenvalues of :math:`D^{-1/2} P D^{-1/2}` (see
  :func:`_mcc`), ~1e-8 relative from PyRadiomics' ``eigvals`` of Q with its ``eps``; only
  the four extreme eigenvalues are computed, by bisection (:func:`_mcc_tridiagonal`).

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
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.linalg import lapack

from radscore.features import discretise, matrices
from radscore.runtime.jit import kernel

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
    """Gray levels present in the ROI (sorted, int64) and Ng = the largest, as PyRadiomics' ``_applyBinning``."""
    levels = discretise.gray_levels(binned[mask]) if gray_levels is None else gray_levels
    levels = np.ascontiguousarray(levels, dtype=np.int64)  # one kernel specialisation
    return levels, int(levels.max())


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
    single one) becomes NaN, so its features are NaN, as in PyRadiomics. ``P`` is returned
    C-contiguous (what the formula kernels are compiled for).
    """
    norm = settings.get("weightingNorm")
    if norm is not None:
        w = _angle_weights(angles, norm, spacing, exponential)
        P = np.sum(P * w, axis=-1, keepdims=True)
        total = np.sum(P, axis=(0, 1))
    else:
        total = np.einsum("ija->a", P)  # counts: exact in any order, and einsum's is 2x faster
    if P.shape[-1] > 1:
        empty = total == 0
        if empty.any():
            keep = ~empty
            P = np.ascontiguousarray(P[..., keep])
            total = total[keep]
    total[total == 0] = np.nan
    return P, total


def _labels_of(binned: np.ndarray, mask: np.ndarray, labels: matrices.Labels | None) -> matrices.Labels:
    """``labels`` if given, else the ROI's, with the ring the default distance needs (a class whose
    ``distances`` reach further widens it)."""
    return labels if labels is not None else matrices.labels_of(binned, mask, 1)


def _distances(settings: Mapping[str, Any]) -> np.ndarray:
    return np.array(settings.get("distances", [1]))


def _force2d(settings: Mapping[str, Any]) -> tuple[bool, int]:
    return settings.get("force2D", False), settings.get("force2Ddimension", 0)


# ---------------------------------------------------------------------------------------
# GLCM
# ---------------------------------------------------------------------------------------

def _mcc(P: np.ndarray, total: np.ndarray, symmetric: bool) -> float:
    r"""Maximal correlation coefficient, PyRadiomics' definition, averaged over angles.

    PyRadiomics forms :math:`Q(i,j) = \sum_k p(i,k)p(j,k)/(p_x(i)p_y(k) + \epsilon)` and takes
    the square root of its second-largest eigenvalue from the general ``eigvals``, per angle
    (its slowest feature). For a symmetric GLCM (the default), without the ``eps``,
    :math:`Q = D^{-1}PD^{-1}P` with :math:`D = \mathrm{diag}(p_x)` is similar to :math:`S^2`,
    :math:`S = D^{-1/2}PD^{-1/2}` symmetric; so Q's eigenvalues are the squares of S's
    (rows with :math:`p_x(i) = 0` give Q's zero eigenvalues). Where a gray level occurs
    about once (:math:`p_x p_y \sim 10^{-10}`) the ``eps`` makes the two differ by up to ~1e-8
    relative (8.5e-9 measured on the benchmark patients). A non-symmetric GLCM takes
    PyRadiomics' own route. 1 for a flat region; NaN where P is not finite (PyRadiomics'
    ``eigvals`` raises there and the feature becomes NaN).

    S's eigenvalues: LAPACK's ``dsytrd`` makes S tridiagonal, then only the four that can
    hold the two largest squares (the two lowest and the two highest) are found by
    bisection (:func:`_mcc_tridiagonal`), instead of all of them by ``eigvalsh`` (MCC per
    scan: 0.33 CPU-s before, 0.21 after, measured side by side on a busy machine). Both
    are accurate to a few ulps of :math:`\|S\| = 1`: the MCC of 528 simulated ROIs agrees
    within 6e-16, of 3000 random GLCMs (n up to 130) within 1.6e-15 absolute
    (``test_texture.py`` holds 1e-13).

    ``P`` is (Ng, Ng, Na), normalised by the per-angle ``total``.
    """
    if np.isnan(total).any():  # P holds counts / total: NaN exactly where a total is
        return float("nan")
    A = P.transpose(2, 0, 1)  # (Na, Ng, Ng): numpy.linalg works on the last two axes
    if symmetric:
        n = A.shape[1]
        if n < 2:
            return 1.0
        p = P.sum(1).T  # p_x, (Na, Ng)
        with np.errstate(divide="ignore"):
            inv = np.where(p > 0, 1.0 / np.sqrt(p), 0.0)
        S = A * inv[:, :, None] * inv[:, None, :]
        if n < 4:  # fewer eigenvalues than the four extremes
            ev = np.sort(np.linalg.eigvalsh(S) ** 2, axis=1)
            return float(_nanmean_rows(np.sqrt(ev[None, :, -2]))[0])
        d = np.empty((n, len(S)))
        e = np.zeros((n, len(S)))
        for a, s in enumerate(S):
            # s.T: the Fortran-ordered view of the symmetric s, no copy
            _, d[:, a], e[:-1, a], _, info = lapack.dsytrd(s.T, lower=1)
            if info != 0:
                raise RuntimeError(f"LAPACK dsytrd failed (info {info})")
        return float(_nanmean_rows(_mcc_tridiagonal(d, e)[None])[0])
    pxa, pya = P.sum(1).T, P.sum(0).T  # (Na, Ng)
    W = A / (pxa[:, :, None] * pya[:, None, :] + _EPS)
    Q = W @ A.transpose(0, 2, 1)
    ev = np.linalg.eigvals(Q)
    ev.sort()  # complex eigenvalues sort by real part, as PyRadiomics'
    if ev.shape[1] < 2:
        return 1.0
    with np.errstate(invalid="ignore"):
        value = np.nanmean(np.sqrt(ev[:, -2])) if ev.shape[0] else np.nan
    return float(np.real(value))


@kernel
def _mcc_tridiagonal(d, e):
    """Per column, the square root of the second-largest squared eigenvalue of a symmetric tridiagonal.

    Column a of ``d`` (n, Na) is the diagonal of one angle's matrix, of ``e`` its
    off-diagonal (row n - 1 unused), n >= 4. The two largest squares are among the two
    lowest and the two highest eigenvalues; each of these four is found by bisection on
    the Sturm count (the number of eigenvalues below x is the number of negative pivots
    of T - x I), from the Gershgorin interval down to 1e-18 (or no representable midpoint).
    The 4 Na bisections advance together, so their chains of divisions interleave.
    """
    n, na = d.shape
    ranks = np.array([0, 1, n - 2, n - 1])
    lanes = 4 * na
    lo = np.empty(lanes)
    hi = np.empty(lanes)
    for a in range(na):
        g = 0.0
        for i in range(n):
            r = abs(d[i, a]) + (abs(e[i - 1, a]) if i > 0 else 0.0) + (abs(e[i, a]) if i < n - 1 else 0.0)
            g = max(g, r)
        g = g * (1 + 1e-12) + 1e-300  # strictly outside every eigenvalue
        for r in range(4):
            lo[r * na + a] = -g
            hi[r * na + a] = g
    e2 = np.empty((n, na))
    for i in range(n - 1):
        for a in range(na):
            e2[i, a] = e[i, a] * e[i, a]
    q = np.empty(lanes)
    below = np.empty(lanes)
    mid = np.empty(lanes)
    for _ in range(200):  # ~60 halvings reach 1e-18
        done = True
        for lane in range(lanes):
            mid[lane] = 0.5 * (lo[lane] + hi[lane])
            if hi[lane] - lo[lane] > 1e-18 and mid[lane] != lo[lane] and mid[lane] != hi[lane]:
                done = False
        if done:
            break
        for r in range(4):
            for a in range(na):
                lane = r * na + a
                x = d[0, a] - mid[lane]
                x = x if x != 0.0 else -1e-300  # a zero pivot counts as negative (LAPACK's pivmin)
                q[lane] = x
                below[lane] = 1.0 if x < 0 else 0.0
        for i in range(1, n):
            for r in range(4):
                for a in range(na):
                    lane = r * na + a
                    x = d[i, a] - mid[lane] - e2[i - 1, a] / q[lane]
                    x = x if x != 0.0 else -1e-300
                    q[lane] = x
                    below[lane] += 1.0 if x < 0 else 0.0
        for r in range(4):
            for a in range(na):
                lane = r * na + a
                if below[lane] > ranks[r]:
                    hi[lane] = mid[lane]
                else:
                    lo[lane] = mid[lane]
    out = np.empty(na)
    squares = np.empty(4)
    for a in range(na):
        for r in range(4):
            lam = 0.5 * (lo[r * na + a] + hi[r * na + a])
            squares[r] = lam * lam
        squares.sort()
        out[a] = math.sqrt(squares[2])
    return out


@kernel
def _pairwise_block(x, lo, n):
    """numpy's pairwise summation of ``x[lo:lo + n]`` for n <= 128 (one block, no halving)."""
    if n < 8:
        res = 0.0
        for k in range(lo, lo + n):
            res += x[k]
        return res
    r0, r1, r2, r3 = x[lo], x[lo + 1], x[lo + 2], x[lo + 3]
    r4, r5, r6, r7 = x[lo + 4], x[lo + 5], x[lo + 6], x[lo + 7]
    k = lo + 8
    while k < lo + n - n % 8:
        r0 += x[k]
        r1 += x[k + 1]
        r2 += x[k + 2]
        r3 += x[k + 3]
        r4 += x[k + 4]
        r5 += x[k + 5]
        r6 += x[k + 6]
        r7 += x[k + 7]
        k += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < lo + n:
        res += x[k]
        k += 1
    return res


@kernel
def _pairwise_sum(x, n):
    """numpy's pairwise summation of ``x[:n]``, term for term (``pairwise_sum`` of its add loop).

    Sequential below 8 terms; up to 128, 8 interleaved partial sums combined as a tree, then
    the remaining terms; above, the two halves (the first a multiple of 8 long) summed alike
    and added. The halving runs on an explicit stack: numba's cache loads a recursive
    kernel into a segfaulting process (seen with numba 0.68).
    """
    if n <= 128:
        return _pairwise_block(x, 0, n)
    lo = np.empty(64, np.int64)  # one frame per halving: depth <= log2(n)
    size = np.empty(64, np.int64)
    left = np.empty(64)  # the first half's sum, once known
    stage = np.empty(64, np.int64)  # 0: first half to do, 1: second half to do, 2: both done
    d = 0
    lo[0], size[0], stage[0] = 0, n, 0
    res = 0.0
    while True:
        if size[d] <= 128 or stage[d] == 2:
            res = _pairwise_block(x, lo[d], size[d]) if size[d] <= 128 else left[d] + res
            if d == 0:
                return res
            d -= 1
            if stage[d] == 1:  # res is the first half's: do the second
                left[d] = res
                stage[d] = 2
                half = size[d] // 2
                half -= half % 8
                lo[d + 1], size[d + 1], stage[d + 1] = lo[d] + half, size[d] - half, 0
                d += 1
        else:
            stage[d] = 1
            half = size[d] // 2
            half -= half % 8
            lo[d + 1], size[d + 1], stage[d + 1] = lo[d], half, 0
            d += 1


@kernel
def _np_sum(x, n, pairwise):
    """The sum of ``x[:n]`` as numpy forms it: pairwise along a contiguous axis, in index order along an outer one."""
    if pairwise:
        return 0.0 + _pairwise_sum(x, n)
    res = 0.0
    for k in range(n):
        res += x[k]
    return res


@kernel
def _np_sums(terms, n, pairwise):
    """:func:`_np_sum` of each row of ``terms[:, :n]``.

    In index order the rows advance together: their chains of dependent additions
    interleave instead of running one after the other (latency-bound, ~3x slower).
    """
    out = np.zeros(terms.shape[0])
    if pairwise:
        for r in range(terms.shape[0]):
            out[r] = 0.0 + _pairwise_sum(terms[r], n)
        return out
    for k in range(n):
        for r in range(terms.shape[0]):
            out[r] += terms[r, k]
    return out


@kernel
def _add(sums, terms, t, values, pairwise):
    """Add ``values`` to the running ``sums`` (in index order), or keep them in column ``t`` of ``terms``
    (to be summed pairwise)."""
    for r in range(len(values)):
        if pairwise:
            terms[r, t] = values[r]
        else:
            sums[r] += values[r]


@kernel
def _glcm_per_angle(P, levels, Ng):
    r"""GLCM's features but MCC, per angle: ``(23, Na)``, rows in :data:`GLCM_NAMES`' order without MCC.

    ``P`` (n, n, Na) is the normalised, C-ordered GLCM of the n gray ``levels`` present (int,
    sorted), ``Ng`` the largest. Per angle, two passes over P (marginals, means, joint
    entropy, :math:`p_{x+y}` and :math:`p_{x-y}`; then the centred moments and the
    :math:`p_x p_y` entropies), then the sums over k. Cluster tendency, shade and prominence
    are grouped by k = i + j over :math:`p_{x+y}` (O(Ng) instead of O(Ng^2) powers).

    Each term has PyRadiomics' operands in its order (``P * (i - ux) * (j - uy)`` is
    ``(P (i - ux)) (j - uy)``), and each sum adds its terms as numpy does on the C-ordered
    arrays: in index order when there are several angles (the angle is the inner axis),
    pairwise when there is one (the terms are then contiguous, and kept until summed).
    Shade, Imc1, Imc2 and Correlation are small differences of large sums: another order
    moves them by up to ~1e-10 relative. An empty cell (typically most) adds 0 to every sum
    of the first pass, which skips it.
    """
    n, na = P.shape[0], P.shape[2]
    nk = 2 * Ng - 1
    pairwise = na == 1
    out = np.empty((23, na))
    lv = levels.astype(np.float64)
    px = np.empty(n)
    py = np.empty(n)
    p_sum = np.empty(nk)  # p_{x+y}(k), k = 2 .. 2 Ng
    p_diff = np.empty(Ng)  # p_{x-y}(k), k = 0 .. Ng - 1
    # one angle's sums over (i, j), of the first pass and of the second, and their terms in
    # index order if they are summed pairwise (an empty cell's: 0)
    sums_1 = np.empty(6)
    sums_2 = np.empty(5)
    t_1 = np.zeros((6, n * n if pairwise else 0))
    t_2 = np.zeros((5, n * n if pairwise else 0))
    # the terms of the sums over i, over k = i + j and over k = |i - j|
    t_i = np.empty((2, n))
    t_k = np.empty((5, nk))
    t_d = np.empty((6, Ng))
    t_inv = np.empty(max(Ng - 1, 0))
    # log2 is the costliest step: a cell whose argument equals its mirror's (every cell of
    # a symmetric GLCM) takes the mirror's log2, the same number
    log_p = np.empty(n * n)
    pxpy_ = np.empty(n * n)
    log_pxpy_ = np.empty(n * n)
    for a in range(na):
        py[:] = 0.0
        p_sum[:] = 0.0
        p_diff[:] = 0.0
        sums_1[:] = 0.0
        sums_2[:] = 0.0
        pmax = P[0, 0, a]
        for i in range(n):
            px[i] = _np_sum(P[i, :, a], n, pairwise)
            for j in range(n):
                p = P[i, j, a]
                if p == 0:
                    continue
                t = i * n + j
                py[j] += p
                # PyRadiomics' mask per k adds these in index order too
                p_sum[levels[i] + levels[j] - 2] += p
                p_diff[abs(levels[i] - levels[j])] += p
                if j < i and P[j, i, a] == p:
                    log_p[t] = log_p[j * n + i]
                else:
                    log_p[t] = math.log2(p + _EPS)
                d = abs(lv[i] - lv[j])
                # ux, uy, -JointEntropy, Autocorrelation, Contrast, JointEnergy
                _add(sums_1, t_1, t, (lv[i] * p, lv[j] * p, p * log_p[t], p * (lv[i] * lv[j]), p * (d * d), p * p),
                     pairwise)
                if p > pmax or p != p:  # numpy's max: NaN wins
                    pmax = p
        if pairwise:
            sums_1[:] = _np_sums(t_1, n * n, True)
        ux, uy, hxy, autocorr, contrast, energy = sums_1
        hxy = -hxy

        for i in range(n):
            dx = lv[i] - ux
            for j in range(n):
                p = P[i, j, a]
                t = i * n + j
                dy = lv[j] - uy
                pxpy = px[i] * py[j]
                if j < i and pxpy == pxpy_[j * n + i]:
                    log_pxpy = log_pxpy_[j * n + i]
                else:
                    log_pxpy = math.log2(pxpy + _EPS)
                pxpy_[t] = pxpy
                log_pxpy_[t] = log_pxpy
                # SumSquares (x), its y counterpart, the covariance, -HXY1, -HXY2
                _add(sums_2, t_2, t, (p * (dx * dx), p * (dy * dy), p * dx * dy, p * log_pxpy, pxpy * log_pxpy),
                     pairwise)
        if pairwise:
            sums_2[:] = _np_sums(t_2, n * n, True)
        sq_x, sq_y, corm, hxy1, hxy2 = sums_2
        hxy1, hxy2 = -hxy1, -hxy2
        for i in range(n):
            t_i[0, i] = px[i] * math.log2(px[i] + _EPS)
            t_i[1, i] = py[i] * math.log2(py[i] + _EPS)
        hx, hy = _np_sums(t_i, n, pairwise)
        hx, hy = -hx, -hy

        # cluster moments grouped by k = i + j: sum_k (k - ux - uy)^n p_{x+y}(k)
        for k in range(nk):
            q = p_sum[k]
            dk = (k + 2.0) - ux - uy
            dk2 = dk * dk
            t_k[0, k] = dk2 * q
            t_k[1, k] = dk2 * dk * q
            t_k[2, k] = dk2 * dk2 * q
            t_k[3, k] = (k + 2.0) * q
            t_k[4, k] = q * math.log2(q + _EPS)
        tendency, shade, prominence, sum_avg, sum_ent = _np_sums(t_k, nk, pairwise)
        for k in range(Ng):
            t_d[0, k] = k * p_diff[k]
        diff_avg = _np_sum(t_d[0], Ng, pairwise)
        for k in range(Ng):
            q = p_diff[k]
            kf = float(k)
            dd = kf - diff_avg
            t_d[0, k] = q * math.log2(q + _EPS)
            t_d[1, k] = q * (dd * dd)
            t_d[2, k] = q / (1 + kf)
            t_d[3, k] = q / (1 + kf * kf)
            t_d[4, k] = q / (1 + (kf * kf) / (Ng * Ng))
            t_d[5, k] = q / (1 + (kf / Ng))
            if k > 0:  # InverseVariance skips k = 0
                t_inv[k - 1] = q / (kf * kf)
        diff_ent, diff_var, inv_diff, idm, idmn, idn = _np_sums(t_d, Ng, pairwise)

        sigxy = math.sqrt(sq_x) * math.sqrt(sq_y)
        corr = 1.0 if sigxy == 0 else corm / (sigxy + _EPS)  # 1 for a flat marginal: PyRadiomics' convention
        # Imc1 is 0 where both marginal entropies are 0 (np.fmax: a NaN loses to a number)
        div = hy if hx != hx else (hx if hy != hy else max(hx, hy))
        imc1 = 0.0 if div == 0 else (hxy - hxy1) / div
        # NaN for a negative radicand, skipped by the mean over angles
        imc2 = 0.0 if hxy2 == hxy else math.sqrt(1 - math.e ** (-2 * (hxy2 - hxy)))

        out[0, a] = autocorr
        out[1, a] = prominence
        out[2, a] = shade
        out[3, a] = tendency
        out[4, a] = contrast
        out[5, a] = corr
        out[6, a] = diff_avg
        out[7, a] = -diff_ent
        out[8, a] = diff_var
        out[9, a] = inv_diff  # Id
        out[10, a] = idm
        out[11, a] = idmn
        out[12, a] = idn
        out[13, a] = imc1
        out[14, a] = imc2
        out[15, a] = _np_sum(t_inv, Ng - 1, pairwise)  # InverseVariance
        # JointAverage: PyRadiomics takes a plain mean of ux; an angle's ux is NaN only when
        # every angle is (an empty angle is deleted unless it is the only one), so the
        # NaN-aware mean gives the same value
        out[16, a] = ux
        out[17, a] = energy
        out[18, a] = hxy  # JointEntropy
        out[19, a] = pmax  # MaximumProbability
        out[20, a] = sum_avg
        out[21, a] = -sum_ent
        out[22, a] = sq_x  # SumSquares
    return out


def glcm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                  gray_levels: np.ndarray | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                  labels: matrices.Labels | None = None) -> dict[str, float]:
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
        ``np.unique(binned[mask])`` (:func:`.discretise.gray_levels`) if already known.
    spacing : sequence of float
        Voxel spacing (x, y, z), SimpleITK's order; used by ``weightingNorm`` only.
    labels : matrices.Labels, optional
        ``matrices.labels_of(binned, mask)`` if already made (shared by the classes of one ROI).

    Returns
    -------
    dict of str to float
        :data:`GLCM_NAMES` in that order.
    """
    levels, Ng = _levels(binned, mask, gray_levels)
    P, angles = matrices.glcm(_labels_of(binned, mask, labels), _distances(settings), Ng, *_force2d(settings))
    rows = levels - 1
    P = P[0].take(rows, 0).take(rows, 1)  # (n, n, Na): PyRadiomics deletes the gray levels absent from the ROI
    if settings.get("symmetricalGLCM", True):
        P += P.transpose(1, 0, 2).copy()
    P, total = _merge_and_normalise(P, angles, settings, spacing, exponential=True)
    P /= total
    means = _nanmean_rows(_glcm_per_angle(P, levels, Ng))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mcc = _mcc(P, total, bool(settings.get("symmetricalGLCM", True)))
    values = means.tolist()
    values.insert(GLCM_NAMES.index("MCC"), mcc)
    return dict(zip(GLCM_NAMES, values))


# ---------------------------------------------------------------------------------------
# GLRLM, GLSZM, GLDM: sums over a marginal
# ---------------------------------------------------------------------------------------

@kernel
def _marginal_sums(q, x, total):
    r"""The sums over one marginal of a GLRLM, GLSZM or GLDM, in index order.

    ``q`` holds the marginal counts (per gray level, or per run length, zone size or
    dependence size) and ``x`` their values (the gray levels i, or the sizes j); ``total`` is
    the matrix total (N_r, N_z). With :math:`p(x) = q / total`, returns
    :math:`\sum q^2` (the NonUniformity's numerator), :math:`\sum q x^2` and
    :math:`\sum q / x^2` (the high / low gray level, long / short run, large / small zone
    emphasis numerators) and the variance :math:`\sum p(x) (x - \mu)^2` with
    :math:`\mu = \sum p(x) x`. Each term has PyRadiomics' operands in its order; the sums
    run in index order.
    """
    sum_q2 = mean = high = low = 0.0
    for k in range(q.shape[0]):
        v = x[k]
        c = q[k]
        sum_q2 += c * c
        mean += (c / total) * v
        high += c * (v * v)
        low += c / (v * v)
    var = 0.0
    for k in range(q.shape[0]):
        d = x[k] - mean
        var += (q[k] / total) * (d * d)
    return sum_q2, high, low, var


# ---------------------------------------------------------------------------------------
# GLRLM
# ---------------------------------------------------------------------------------------

@kernel
def _glrlm_per_angle(P, levels):
    """GLRLM's features per angle: ``(16, Na)``, rows in :data:`GLRLM_NAMES`' order.

    ``P`` (Ng, Nr, Na) holds the run counts (weighted, if so); only the rows of the gray
    ``levels`` present are read, and only the columns of the run lengths some angle has
    (PyRadiomics deletes the others: over none, RunEntropy and RunVariance are 0 where the
    other features are NaN). Each expression has PyRadiomics' operands in its order; sums
    run in index order, numpy's are pairwise with one angle (~1e-16 relative apart). The
    number of runs N is the sum of the per-level counts, NaN for 0: the matrix total, and
    with weighting summed so that one gray level (one run length) gives a variance of
    exactly 0, as PyRadiomics' numpy order does.
    """
    n, nr, na = levels.shape[0], P.shape[1], P.shape[2]
    out = np.empty((16, na))
    pg = np.empty(n)
    pr = np.empty(nr)
    used = np.zeros(nr, np.bool_)
    for g in range(n):
        for r in range(nr):
            for a in range(na):
                if P[levels[g] - 1, r, a] != 0:
                    used[r] = True
    cols = np.flatnonzero(used)
    x_g = levels.astype(np.float64)  # the marginals' values i and j
    x_r = cols + 1.0
    for a in range(na):
        pg[:] = 0.0
        pr[:] = 0.0
        lrhgle = lrlgle = srhgle = srlgle = 0.0
        for g in range(n):
            lv = float(levels[g])
            i2 = lv * lv
            for r in cols:
                p = P[levels[g] - 1, r, a]
                if p == 0:  # adds 0
                    continue
                j = r + 1.0
                j2 = j * j
                pg[g] += p
                pr[r] += p
                lrhgle += p * (j2 * i2)
                lrlgle += p * j2 / i2
                srhgle += p * i2 / j2
                srlgle += p / (i2 * j2)
        N = 0.0
        for g in range(n):
            N += pg[g]
        N = N if N != 0 else math.nan
        ent = 0.0
        for g in range(n):
            for r in cols:
                p = P[levels[g] - 1, r, a]
                if p == 0 and N == N:  # adds -0.0 (NaN if N is)
                    continue
                p_n = p / N
                ent += p_n * math.log2(p_n + _EPS)
        sum_pg2, hgre, lgre, glv = _marginal_sums(pg, x_g, N)
        sum_pr2, lre, sre, rv = _marginal_sums(pr[cols], x_r, N)
        n_vox = 0.0
        for r in cols:
            n_vox += pr[r] * (r + 1.0)
        out[0, a] = sum_pg2 / N  # GrayLevelNonUniformity
        out[1, a] = sum_pg2 / (N * N)  # ...Normalized
        out[2, a] = glv
        out[3, a] = hgre / N
        out[4, a] = lre / N
        out[5, a] = lrhgle / N
        out[6, a] = lrlgle / N
        out[7, a] = lgre / N
        out[8, a] = -ent
        out[9, a] = sum_pr2 / N  # RunLengthNonUniformity
        out[10, a] = sum_pr2 / (N * N)  # ...Normalized
        # RunPercentage; no voxel in runs only where N is NaN (numpy's x / 0 written out: numba raises)
        out[11, a] = N / n_vox if n_vox != 0 else (math.nan if N != N or N == 0 else math.inf)
        out[12, a] = rv
        out[13, a] = sre / N
        out[14, a] = srhgle / N
        out[15, a] = srlgle / N
    return out


def glrlm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                   gray_levels: np.ndarray | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                   labels: matrices.Labels | None = None) -> dict[str, float]:
    """PyRadiomics' GLRLM features (``RadiomicsGLRLM``) of one discretised ROI.

    Arguments as :func:`glcm_features`; settings read: ``weightingNorm``, ``force2D``,
    ``force2Ddimension``. Run lengths up to the longest side of the array (PyRadiomics' Nr).

    Returns
    -------
    dict of str to float
        :data:`GLRLM_NAMES` in that order.
    """
    levels, Ng = _levels(binned, mask, gray_levels)
    P, angles = matrices.glrlm(_labels_of(binned, mask, labels), Ng, int(np.max(binned.shape)),
                               *_force2d(settings))
    # (Ng, Nr, Na); the rows of absent gray levels are 0 and not read by the kernel
    P, _ = _merge_and_normalise(P[0], angles, settings, spacing, exponential=False)
    return dict(zip(GLRLM_NAMES, _nanmean_rows(_glrlm_per_angle(P, levels)).tolist()))


# ---------------------------------------------------------------------------------------
# GLSZM, GLDM: one matrix, no angles
# ---------------------------------------------------------------------------------------

@kernel
def _zone_features(P, levels, gldm):
    """GLSZM's features in :data:`GLSZM_NAMES`' order from its matrix, or GLDM's counterparts from GLDM's.

    ``P`` (Ng, sizes) holds zone (dependence) counts; only the rows of the gray ``levels``
    present are read (PyRadiomics deletes the others), and after one pass over P that finds
    the sizes some zone has, only their columns (PyRadiomics deletes the others too; GLSZM's
    P has a column per voxel count up to the largest zone, mostly empty). Nz is the sum of
    P, 0 made 1: the number of zones, or for GLDM of voxels. GLDM's
    LargeDependenceHighGrayLevelEmphasis multiplies j^2 i^2 first (``gldm``), as
    PyRadiomics, GLSZM's counterpart (P i^2) j^2; GLDM has no ZonePercentage (left in its
    row, unused). Each expression has PyRadiomics' operands in its order; sums run in index
    order, numpy's are pairwise (~1e-15 relative apart). A cell of 0 adds 0 (its entropy
    term is -0.0) and is skipped.
    """
    n = levels.shape[0]
    pg = np.zeros(n)
    ps = np.zeros(P.shape[1])
    for g in range(n):
        for s in range(P.shape[1]):
            p = P[levels[g] - 1, s]
            if p != 0:
                pg[g] += p
                ps[s] += p
    used = np.flatnonzero(ps)
    total = 0.0
    n_vox = 0.0
    for g in range(n):
        total += pg[g]  # integer counts: exact in any order
    for s in used:
        n_vox += ps[s] * (s + 1.0)
    total = total if total != 0 else 1.0
    n_vox = n_vox if n_vox != 0 else 1.0
    sum_pg2, hg, lg, glv = _marginal_sums(pg, levels.astype(np.float64), total)
    sum_ps2, la, sa, zv = _marginal_sums(ps[used], used + 1.0, total)
    lahg = lalg = sahg = salg = ent = 0.0
    for g in range(n):
        lv = float(levels[g])
        i2 = lv * lv
        for s in used:
            p = P[levels[g] - 1, s]
            if p == 0:
                continue
            j = s + 1.0
            j2 = j * j
            lahg += p * (j2 * i2) if gldm else p * i2 * j2
            lalg += p * j2 / i2
            sahg += p * i2 / j2
            salg += p / (i2 * j2)
            p_n = p / total
            ent += p_n * math.log2(p_n + _EPS)
    out = np.empty(16)
    out[0] = sum_pg2 / total  # GrayLevelNonUniformity
    out[1] = sum_pg2 / (total * total)  # ...Normalized
    out[2] = glv
    out[3] = hg / total
    out[4] = la / total
    out[5] = lahg / total
    out[6] = lalg / total
    out[7] = lg / total
    out[8] = sum_ps2 / total  # SizeZoneNonUniformity
    out[9] = sum_ps2 / (total * total)  # ...Normalized
    out[10] = sa / total
    out[11] = sahg / total
    out[12] = salg / total
    out[13] = -ent
    out[14] = total / n_vox  # ZonePercentage
    out[15] = zv
    return out


def glszm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                   gray_levels: np.ndarray | None = None, labels: matrices.Labels | None = None) -> dict[str, float]:
    """PyRadiomics' GLSZM features (``RadiomicsGLSZM``) of one discretised ROI.

    Arguments as :func:`glcm_features`; settings read: ``force2D``, ``force2Ddimension``.
    Zones are 26-connected in 3-D (8 with ``force2D``).

    Returns
    -------
    dict of str to float
        :data:`GLSZM_NAMES` in that order.
    """
    levels, Ng = _levels(binned, mask, gray_levels)
    P = matrices.glszm(_labels_of(binned, mask, labels), Ng, *_force2d(settings))
    return dict(zip(GLSZM_NAMES, _zone_features(P[0], levels, False).tolist()))


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
_GLDM_ROWS = np.array([GLSZM_NAMES.index(_GLDM_FROM_ZONE[name]) for name in GLDM_NAMES])  # of _zone_features


def gldm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                  gray_levels: np.ndarray | None = None, matrix: np.ndarray | None = None,
                  labels: matrices.Labels | None = None) -> dict[str, float]:
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
        matrix = matrices.gldm_ngtdm(_labels_of(binned, mask, labels), _distances(settings), Ng,
                                     settings.get("gldm_a", 0), *_force2d(settings), want_ngtdm=False)[0]
    values = _zone_features(np.ascontiguousarray(matrix[0], dtype=np.float64), levels, True)
    return dict(zip(GLDM_NAMES, values[_GLDM_ROWS].tolist()))


# ---------------------------------------------------------------------------------------
# NGTDM
# ---------------------------------------------------------------------------------------

@kernel
def _ngtdm_values(P):
    """(Busyness, Coarseness, Complexity, Contrast, Strength) from the (Ng, 3) NGTDM.

    The gray levels with no voxel are left out, as PyRadiomics deletes their rows. Pair
    sums run over (i, j) in index order; expressions and special cases as PyRadiomics'
    (numpy's x / 0 written out where it can occur: numba raises there).
    """
    n = 0
    n_vox = 0.0
    for g in range(P.shape[0]):
        if P[g, 0] != 0:
            n += 1
            n_vox += P[g, 0]  # integer counts: exact in any order
    p = np.empty(n)
    s = np.empty(n)
    iv = np.empty(n)
    k = 0
    for g in range(P.shape[0]):
        if P[g, 0] != 0:
            p[k] = P[g, 0] / n_vox
            s[k] = P[g, 1]
            iv[k] = P[g, 2]
            k += 1
    n_levels = 0
    sum_ps = sum_s = 0.0
    for i in range(n):
        n_levels += p[i] > 0
        sum_ps += p[i] * s[i]
        sum_s += s[i]
    contrast = absdiff = complexity = strength = 0.0
    for i in range(n):
        for j in range(n):
            di = iv[i] - iv[j]
            di2 = di * di
            contrast += p[i] * p[j] * di2
            absdiff += abs(iv[i] * p[i] - iv[j] * p[j])
            divisor = p[i] + p[j]
            if divisor == 0:
                divisor = 1.0
            complexity += abs(di) * (p[i] * s[i] + p[j] * s[j]) / divisor
            strength += (p[i] + p[j]) * di2
    coarseness = 1 / sum_ps if sum_ps != 0 else 1e6
    div = n_levels * (n_levels - 1)
    contrast = contrast * sum_s / n_vox / div if div != 0 else 0.0
    busyness = sum_ps / absdiff if absdiff != 0 else 0.0
    complexity = complexity / n_vox if n_vox != 0 else math.nan
    strength = strength / sum_s if sum_s != 0 else 0.0
    return busyness, coarseness, complexity, contrast, strength


def ngtdm_features(binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                   gray_levels: np.ndarray | None = None, matrix: np.ndarray | None = None,
                   labels: matrices.Labels | None = None) -> dict[str, float]:
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
        matrix = matrices.gldm_ngtdm(_labels_of(binned, mask, labels), _distances(settings), Ng, 0,
                                     *_force2d(settings), want_gldm=False)[1]
    return dict(zip(NGTDM_NAMES, _ngtdm_values(np.ascontiguousarray(matrix[0], dtype=np.float64))))


# ---------------------------------------------------------------------------------------
# all classes of one ROI
# ---------------------------------------------------------------------------------------

def texture_features(classes: Iterable[str], binned: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any],
                     gray_levels: np.ndarray | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0)
                     ) -> dict[str, dict[str, float]]:
    """The requested texture classes of one discretised ROI, ``{class: {feature: value}}``.

    ``classes`` may name other classes too (``firstorder``, ``shape``): they are skipped.
    The classes share the ROI's :class:`~.matrices.Labels` (one padded label array and voxel
    list), and GLDM and NGTDM one neighbourhood pass when both are requested.

    Raises
    ------
    TextureError
        When a class fails (its ``feature_class`` names it; the cause is chained).
    """
    classes = [c for c in classes if c in FEATURE_NAMES]
    levels, Ng = _levels(binned, mask, gray_levels)
    labels = None
    gldm_m = ngtdm_m = None
    out: dict[str, dict[str, float]] = {}
    for c in classes:
        try:
            labels = _labels_of(binned, mask, labels)  # inside: it raises what the matrix functions would
            if c == "glcm":
                out[c] = glcm_features(binned, mask, settings, levels, spacing, labels)
            elif c == "glrlm":
                out[c] = glrlm_features(binned, mask, settings, levels, spacing, labels)
            elif c == "glszm":
                out[c] = glszm_features(binned, mask, settings, levels, labels)
            else:
                if gldm_m is None and ngtdm_m is None and "gldm" in classes and "ngtdm" in classes:
                    gldm_m, ngtdm_m = matrices.gldm_ngtdm(labels, _distances(settings), Ng,
                                                          settings.get("gldm_a", 0), *_force2d(settings))
                if c == "gldm":
                    out[c] = gldm_features(binned, mask, settings, levels, gldm_m, labels)
                else:
                    out[c] = ngtdm_features(binned, mask, settings, levels, ngtdm_m, labels)
        except Exception as exc:
            raise TextureError(c, exc) from exc
    return out


def warm_up() -> None:
    """Load the numba kernels, matrices' and formulas', in this process (see :func:`.matrices.warm_up`)."""
    matrices.warm_up()
    image = np.ones((3, 3, 3), dtype=int)
    image[1, 1, 1] = 2
    texture_features(FEATURE_NAMES, image, np.ones(image.shape, dtype=bool), {})
    # >= 4 gray levels: the MCC's tridiagonal eigenvalue kernel
    image = np.arange(27).reshape(3, 3, 3) % 5 + 1
    texture_features(FEATURE_NAMES, image, np.ones(image.shape, dtype=bool), {})
