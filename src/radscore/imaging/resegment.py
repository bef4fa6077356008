"""ROI re-segmentation by intensity (IBSI 1, section 2.5 "Re-segmentation").

IBSI splits the ROI into a *morphological* mask (the segmentation, used for morphology)
and an *intensity* mask: the morphological mask with voxels removed by

* range re-segmentation: intensities outside ``[low, high]`` (either bound may be open);
* intensity outlier filtering: intensities outside mean +- ``sigma`` x standard deviation,
  the mean and (population) standard deviation taken over the ROI *after* range
  re-segmentation when both are used (IBSI 1, configuration E).

PyRadiomics' ``resegmentRange`` applies one of the two only (``resegmentMode``), and
re-segments the mask that shape features are computed from when ``resegmentShape`` is set;
here the caller keeps the morphological mask for shape, as IBSI does.

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
            out &= values >= low
        if high is not None:
            out &= values <= high
    if sigma is not None and out.any():
        inside = values[out].astype(np.float64)
        mean, sd = inside.mean(), inside.std()
        out &= np.abs(values - mean) <= sigma * sd
    return out
