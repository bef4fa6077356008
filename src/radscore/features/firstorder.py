"""PyRadiomics' first-order features for many image types of one VOI at once, exactly.

The engine computes the features of ~22 filtered images (image types) per VOI. PyRadiomics'
``RadiomicsFirstOrder`` is called once per (image type, VOI) and spends most of its time in
per-call overhead (``nanpercentile`` via ``apply_along_axis``, masked-array ``nanmedian``,
repeated means). All image types of one VOI share the same voxels, so their values stack
into one ``(n_types, n_voxels)`` array and each feature is a few row-wise numpy reductions.

Each formula is PyRadiomics' own (``radiomics/firstorder.py``, 3.1.4), evaluated with the
same numpy operations in the same order on the same float64 values, so 16 of the 18
features agree bit for bit; Skewness and Kurtosis use products instead of ``np.power``
(see below) and agree within ~1e-15 (``tests/features/test_firstorder_fast.py`` holds all
to PyRadiomics within 1e-9 relative). The points that matter for exactness:

- PyRadiomics sees ``imageArray[mask].astype('float')``: the image's float32 or float64
  values in C order of the mask, cast to float64. ``values`` must be exactly that.
- Row-wise ``np.sum(..., axis=1)`` on a C-contiguous 2-D array sums each row with the same
  pairwise algorithm as PyRadiomics' ``(1, N)`` array, so every mean/moment is identical;
  this matters in (near-)flat regions, where skewness and kurtosis divide tiny moments.
- ``nanmean`` / ``nansum`` over an array with NaNs (robust MAD) sum the full row with
  zeros in the NaN positions: reproduced by multiplying with the 0/1 mask.
- ``Variance`` is ``nanstd(x) ** 2`` (square of a rounded square root), not ``nanvar``.
- Percentiles: numpy's default ``linear`` method (``nanpercentile`` without NaNs is
  ``percentile``); the median is the mean of the two middle values.
- Skewness and kurtosis are 0 for a flat region (PyRadiomics sets ``m2 = 1`` where it is 0).
- Entropy uses ``eps = np.spacing(1)`` and the histogram of the *binned* gray levels
  present in the VOI; ``StandardDeviation`` is deprecated and not returned by
  ``enableAllFeatures()``, so it is not computed here either.

References: PyRadiomics ``radiomics/firstorder.py`` (van Griethuysen JJM et al., Cancer
Res 2017;77:e104); IBSI (Zwanenburg A et al., Radiology 2020;295:328), sections 3.3-3.4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Feature names in the order ``RadiomicsFirstOrder.enableAllFeatures(); execute()`` returns
#: them (``inspect.getmembers`` sorts the ``get*FeatureValue`` methods by name;
#: the deprecated ``StandardDeviation`` is not enabled).
FEATURE_NAMES: tuple[str, ...] = (
    "10Percentile", "90Percentile", "Energy", "Entropy", "InterquartileRange", "Kurtosis",
    "Maximum", "MeanAbsoluteDeviation", "Mean", "Median", "Minimum", "Range",
    "RobustMeanAbsoluteDeviation", "RootMeanSquared", "Skewness", "TotalEnergy",
    "Uniformity", "Variance",
)

#: Above this many histogram cells (rows x gray-level span) the per-row ``np.unique`` is used
#: instead of one offset ``bincount`` (memory bound for wide, sparse gray-level ranges).
_BINCOUNT_MAX_CELLS = 1 << 24


def _row_mean(x: np.ndarray) -> np.ndarray:
    """``np.nanmean(x, 1, keepdims=True)`` for NaN-free ``x``: row sum / count, same sum."""
    return np.sum(x, axis=1, keepdims=True) / x.shape[1]


def _histograms(gray_levels: np.ndarray) -> list[np.ndarray]:
    """Per row, the counts of the gray levels present, in increasing gray-level order.

    This is PyRadiomics' ``np.unique(discretized[mask], return_counts=True)[1]`` per row.
    """
    g = np.asarray(gray_levels)
    lo = g.min(axis=1)
    span = int((g.max(axis=1) - lo).max()) + 1
    n = g.shape[0]
    if n * span > _BINCOUNT_MAX_CELLS:
        return [np.unique(row, return_counts=True)[1] for row in g]
    # one bincount for all rows: row r's levels shifted into the cells [r * span, (r+1) * span)
    idx = (g - lo[:, None]).astype(np.intp) + (np.arange(n, dtype=np.intp) * span)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n * span).reshape(n, span)
    return [c[c > 0] for c in counts]


def firstorder_features(
    values: np.ndarray,
    gray_levels: np.ndarray,
    spacing: Sequence[float],
    voxel_array_shift: float = 0,
) -> list[dict[str, float]]:
    """PyRadiomics' first-order features of several images over the same VOI.

    Parameters
    ----------
    values : ndarray of float64, shape (n_types, n_voxels)
        Row ``t`` is image type ``t``'s values in the VOI, as PyRadiomics sees them:
        ``image_array[mask].astype(np.float64)`` (C order of the mask, same order for every
        row). Must be finite (PyRadiomics' NaN-skipping is not reproduced).
    gray_levels : ndarray of int, shape (n_types, n_voxels)
        The same voxels discretised by ``radiomics.imageoperations.binImage`` with the
        class settings (binWidth / binCount), i.e. ``binned[mask]``.
    spacing : sequence of float
        Voxel spacing (x, y, z) in mm, ``image.GetSpacing()``; TotalEnergy uses its product
        taken in this order, as PyRadiomics (``numpy.multiply.reduce``).
    voxel_array_shift : float, optional
        PyRadiomics' ``voxelArrayShift`` setting (default 0), added before Energy,
        TotalEnergy and RootMeanSquared.

    Returns
    -------
    list of dict of str to float
        One dict per row, keys :data:`FEATURE_NAMES` in that order. As in PyRadiomics,
        RobustMeanAbsoluteDeviation is NaN for a VOI of 2 voxels with different values.
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"values must be (n_types, n_voxels) with n_voxels >= 1, got shape {x.shape}")
    if np.shape(gray_levels) != x.shape:
        raise ValueError(f"gray_levels shape {np.shape(gray_levels)} != values shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("values must be finite (PyRadiomics skips NaN voxels; that is not reproduced)")
    n_vox = x.shape[1]

    # --- magnitude: Energy, TotalEnergy, RootMeanSquared
    shifted = x + voxel_array_shift
    energy = np.sum(shifted ** 2, axis=1)
    total_energy = energy * np.multiply.reduce(spacing)
    rms = np.sqrt(energy / float(n_vox))

    # --- order statistics from one sort of all rows. Percentiles depend only on the sorted
    # values, so numpy's own (linear) percentile on the sorted rows equals PyRadiomics'
    # nanpercentile; the median is the mean of the middle pair (numpy's median).
    srt = np.sort(x, axis=1)
    minimum = srt[:, 0]
    maximum = srt[:, -1]
    p10, p25, p75, p90 = np.percentile(srt, [10, 25, 75, 90], axis=1)
    half = n_vox // 2
    median = srt[:, half] if n_vox % 2 else (srt[:, half - 1] + srt[:, half]) / 2.0

    # --- moments about the mean (PyRadiomics' _moment: nanmean(power(x - mean, k)))
    mean_k = _row_mean(x)
    dev = x - mean_k
    dev2 = dev * dev  # == np.power(dev, 2) bit for bit (numpy squares)
    # np.power(dev, 3 or 4) calls libm pow per element (~50x a multiply, most of the
    # time here); products differ from it by an ulp per element, ~1e-15 in the features.
    m2 = _row_mean(dev2)[:, 0]
    m3 = _row_mean(dev2 * dev)[:, 0]
    m4 = _row_mean(dev2 * dev2)[:, 0]
    m2_safe = np.where(m2 == 0, 1.0, m2)  # flat region: PyRadiomics returns 0
    skewness = m3 / m2_safe ** 1.5
    kurtosis = m4 / m2_safe ** 2.0
    mad = _row_mean(np.absolute(dev))[:, 0]
    # nanstd: sqrt(sum((x - mean) * (x - mean)) / N); Variance is its square
    variance = np.sqrt(m2) ** 2

    # --- robust MAD over the voxels in the closed [P10, P90] range. PyRadiomics NaNs the
    # others and takes nanmeans, i.e. sums the full row with zeros there: same here.
    # With 2 distinct voxels neither lies in [P10, P90]: NaN (0 / 0), as PyRadiomics.
    # (x - p < 0 is x < p for finite floats; multiplying by the 0/1 mask zeroes the others)
    keep = (x >= p10[:, None]) & (x <= p90[:, None])
    n_keep = np.sum(keep, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        kept_mean = np.sum(x * keep, axis=1, keepdims=True) / n_keep
        rmad = (np.sum(np.absolute(x - kept_mean) * keep, axis=1, keepdims=True) / n_keep)[:, 0]

    # --- histogram of the binned gray levels
    eps = np.spacing(1)
    entropy = np.empty(x.shape[0])
    uniformity = np.empty(x.shape[0])
    for r, counts in enumerate(_histograms(gray_levels)):
        p = counts.astype(float) / float(np.sum(counts))
        entropy[r] = -1.0 * np.sum(p * np.log2(p + eps))
        uniformity[r] = np.sum(p ** 2)

    columns = {
        "10Percentile": p10, "90Percentile": p90, "Energy": energy, "Entropy": entropy,
        "InterquartileRange": p75 - p25, "Kurtosis": kurtosis, "Maximum": maximum, "Mean": mean_k[:, 0],
        "MeanAbsoluteDeviation": mad, "Median": median, "Minimum": minimum, "Range": maximum - minimum,
        "RobustMeanAbsoluteDeviation": rmad, "RootMeanSquared": rms, "Skewness": skewness,
        "TotalEnergy": total_energy, "Uniformity": uniformity, "Variance": variance,
    }
    table = np.stack([columns[k] for k in FEATURE_NAMES], axis=1).tolist()
    return [dict(zip(FEATURE_NAMES, row)) for row in table]
