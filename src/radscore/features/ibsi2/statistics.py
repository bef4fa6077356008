"""The intensity statistics IBSI 2 phase 2 scores on a filtered image's VOI voxels.

IBSI 2 phase 2 reports 18 statistics of the response map inside the ROI, with the
definitions of IBSI 1's "intensity-based statistical features" (Zwanenburg A et al.,
Radiology 2020;295:328; reference manual arXiv:1612.07003, section 3.3). They differ from
PyRadiomics' first-order features (:mod:`radscore.features.firstorder`), which is why they
live here:

- variance is the biased one, ``mean((x - mean)^2)``; skewness ``m3 / m2^1.5``; kurtosis is
  *excess* kurtosis ``m4 / m2^2 - 3`` (both 0 for a flat region, where IBSI sets them so);
- the median absolute deviation (``stat_medad``) is the mean of ``|x - median|``, not
  the median of it; the robust MAD (``stat_rmad``) is the mean absolute deviation from their
  mean of the voxels between the 10th and 90th percentiles (inclusive);
- coefficient of variation ``sqrt(var) / mean``; quartile coefficient of dispersion
  ``(p75 - p25) / (p75 + p25)``;
- energy is ``sum(x^2)`` (no voxel volume), root mean square ``sqrt(mean(x^2))``;
- percentiles use numpy's default linear interpolation between order statistics, as MIRP
  (an IBSI 2 consensus tool) does.

The tags are the ``feature_tag`` column of IBSI 2's ``reference_values.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radscore.errors import DataError

#: The 18 statistics, in the order of IBSI 2's reference table.
STATISTIC_TAGS: tuple[str, ...] = (
    "stat_mean", "stat_var", "stat_skew", "stat_kurt", "stat_median", "stat_min", "stat_p10",
    "stat_p90", "stat_max", "stat_iqr", "stat_range", "stat_mad", "stat_rmad", "stat_medad",
    "stat_cov", "stat_qcod", "stat_energy", "stat_rms",
)


def intensity_statistics(values: np.ndarray) -> pd.Series:
    """The 18 IBSI intensity statistics of the voxel values of one VOI.

    Parameters
    ----------
    values : numpy.ndarray
        The filtered image's values at the VOI's voxels (any shape; flattened).

    Returns
    -------
    pandas.Series
        float64 values indexed by :data:`STATISTIC_TAGS`.

    Raises
    ------
    DataError
        When there are no voxels or a value is not finite.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise DataError("the VOI has no voxels, so it has no intensity statistics",
                        fix="check the mask against the image grid")
    if not np.all(np.isfinite(x)):
        raise DataError("the filtered image has non-finite values inside the VOI",
                        fix="check the image for NaN / inf before filtering")
    mean = x.mean()
    dev = x - mean
    m2 = np.mean(dev**2)
    # IBSI: skewness and kurtosis of a flat region are 0 (both moments vanish).
    skew = np.mean(dev**3) / m2**1.5 if m2 > 0 else 0.0
    kurt = np.mean(dev**4) / m2**2 - 3.0 if m2 > 0 else 0.0
    p10, p25, median, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    robust = x[(x >= p10) & (x <= p90)]
    qsum = p75 + p25
    stats = {
        "stat_mean": mean,
        "stat_var": m2,
        "stat_skew": skew,
        "stat_kurt": kurt,
        "stat_median": median,
        "stat_min": x.min(),
        "stat_p10": p10,
        "stat_p90": p90,
        "stat_max": x.max(),
        "stat_iqr": p75 - p25,
        "stat_range": x.max() - x.min(),
        "stat_mad": np.mean(np.abs(dev)),
        "stat_rmad": np.mean(np.abs(robust - robust.mean())),
        "stat_medad": np.mean(np.abs(x - median)),
        # both ratios are undefined (not 0) when their denominator vanishes
        "stat_cov": np.sqrt(m2) / mean if mean != 0 else np.nan,
        "stat_qcod": (p75 - p25) / qsum if qsum != 0 else np.nan,
        "stat_energy": np.sum(x**2),
        "stat_rms": np.sqrt(np.mean(x**2)),
    }
    return pd.Series({tag: float(stats[tag]) for tag in STATISTIC_TAGS}, dtype=np.float64, name="ibsi2_statistics")
