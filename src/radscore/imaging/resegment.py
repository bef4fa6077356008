"""ROI re-segmentation by intensity (IBSI 1, section 2.5 "Re-segmentation").

IBSI splits the ROI into a *morphological* mask (the segmentation, used for morphology)
and an *intensity* mask: the morphological mask with voxels removed by

* range re-segmentation: intensities outside ``[low, high]`` (either bound may be open);
* intensity outlier filtering: intensities outside mean +- ``sigma`` x standard deviation,
  the mean and (population) standard deviation taken over the ROI *after* range
  re-segmentation when both are used (IBSI 1, configuration E).

PyRadiomics' ``resegmentRange`` applies one of them only (``resegmentMode``: absolute or
relative range, or mean +- k SD), :func:`resegment_range`, used by ``radscore extract
--params``; it re-segments the mask that shape features are computed from when
``resegmentShape`` is set. :func:`resegment` chains the two as IBSI does, through the same
function; the caller keeps the morphological mask for shape.

Reference: Zwanenburg A et al. The Image Biomarker Standardization Initiative.
Radiology 2020;295:328-338; IBSI 1 reference manual, "Re-segmentation".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def resegment(values: np.ndarray, mask: np.ndarray, value_range: Sequence[float | None] | None = None,
              sigma: float | None = None) -> np.ndarray:
    """The IBSI intensity mask: ``mask`` re-segmented by range, then by outliers.

    Parameters
    ----------
    values : ndarray
        Intensities, same shape as ``mask``.
    mask : ndarray of bool
        The morphological mask.
    value_range : (low, high), optional
        Keep ``low <= value <= high``; ``None`` for an open bound.
    sigma : float, optional
        Keep ``|value - mean| <= sigma * sd`` over the (range re-segmented) ROI.

    Returns
    -------
    ndarray of bool
    """
    values = np.asarray(values)
    out = np.asarray(mask, dtype=bool).copy()
    if value_range is not None:
        low, high = value_range
        if low is not None:
            out = resegment_range(values, out, [low] if high is None else [low, high])
        elif high is not None:  # an open lower bound: PyRadiomics' single threshold is a lower one
            out &= values <= high
    if sigma is not None and out.any():
        out = resegment_range(values, out, [-sigma, sigma], "sigma")
    return out


def resegment_range(values: np.ndarray, roi: np.ndarray, thresholds: Sequence[float], mode: str = "absolute"
                    ) -> np.ndarray:
    """PyRadiomics' re-segmentation (``imageoperations.resegmentMask``): keep ROI voxels in a range.

    ``thresholds`` are one lower bound or a closed [lower, upper] range, as values
    (``absolute``), as fractions of the ROI maximum (``relative``) or as standard
    deviations from the ROI mean (``sigma``, population SD).
    """
    roi = np.asarray(roi, dtype=bool)
    inside = np.asarray(values)[roi]
    bounds = sorted(float(t) for t in thresholds)
    if mode == "relative":
        bounds = [np.max(inside) * t for t in bounds]
    elif mode == "sigma":
        bounds = [np.mean(inside) + np.std(inside) * t for t in bounds]
    keep = inside >= bounds[0]
    if len(bounds) == 2:
        keep &= inside <= bounds[1]
    out = np.zeros_like(roi)
    out[roi] = keep
    return out
