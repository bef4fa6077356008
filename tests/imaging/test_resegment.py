"""IBSI re-segmentation: range first, then the outlier filter on what the range kept."""

from __future__ import annotations

import numpy as np

from radscore.imaging.resegment import resegment


def test_range_then_sigma():
    values = np.array([-2000.0, -10, -5, 0, 5, 10, 30, 5000])
    mask = np.ones(values.shape, bool)
    mask[3] = False  # outside the morphological mask stays outside
    assert resegment(values, mask).tolist() == mask.tolist()
    in_range = resegment(values, mask, (-1000, 400))
    assert in_range.tolist() == [False, True, True, False, True, True, True, False]
    # the sigma filter uses the mean and population sd of the range-re-segmented ROI
    kept = values[in_range]
    mu, sd = kept.mean(), kept.std()
    both = resegment(values, mask, (-1000, 400), sigma=1.0)
    assert both.tolist() == (in_range & (np.abs(values - mu) <= sd)).tolist()
    assert both.sum() < in_range.sum()
    # without the range, the outliers would have set the limits
    assert resegment(values, mask, sigma=1.0)[1:7].tolist() == [True, True, False, True, True, True]


def test_open_bounds():
    values = np.arange(10.0)
    mask = np.ones(10, bool)
    assert resegment(values, mask, (None, 4)).sum() == 5
    assert resegment(values, mask, (7, None)).sum() == 3
