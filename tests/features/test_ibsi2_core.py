"""IBSI 2 shared pieces: boundary modes, convolution helpers, intensity statistics.

Checked against independent computations: an explicit padded sum for each boundary mode,
and scipy.stats / plain numpy formulas for the statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from radscore.errors import ConfigError, DataError
from radscore.features.ibsi2.convolution import (
    BOUNDARY_MODES,
    convolve_1d,
    convolve_nd,
    convolve_separable,
    dilate_kernel,
)
from radscore.features.ibsi2.statistics import STATISTIC_TAGS, intensity_statistics

# the extension of [1, 2, 3, 4] by two samples on each side, as IBSI 2 (section 2.2) draws it
_EXTENDED = {
    "zero": [0, 0, 1, 2, 3, 4, 0, 0],
    "nearest": [1, 1, 1, 2, 3, 4, 4, 4],
    "periodic": [3, 4, 1, 2, 3, 4, 1, 2],
    "mirror": [2, 1, 1, 2, 3, 4, 4, 3],
}


@pytest.mark.parametrize("boundary", sorted(_EXTENDED))
def test_boundary_modes_extend_as_ibsi2_draws_them(boundary: str) -> None:
    signal = np.array([1.0, 2.0, 3.0, 4.0])
    kernel = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0])  # distinct weights expose each neighbour
    ext = np.array(_EXTENDED[boundary], dtype=float)
    # convolution: out[i] = sum_j k[j] * ext[i + 2 - (j - 2)] -> flipped kernel slid over ext
    expected = np.array([np.dot(kernel[::-1], ext[i:i + 5]) for i in range(4)])
    got = convolve_1d(signal[None, None, :], kernel, axis=2, boundary=boundary)[0, 0]
    np.testing.assert_allclose(got, expected)
    got_nd = convolve_nd(signal[None, None, :], kernel[None, None, :], boundary)[0, 0]
    np.testing.assert_allclose(got_nd, expected)


@pytest.mark.parametrize("boundary", sorted(BOUNDARY_MODES))
def test_fft_and_direct_paths_agree(boundary: str) -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(size=(7, 12, 13))
    small = rng.normal(size=(3, 3, 3))  # direct path
    big = np.zeros((7, 9, 9))  # FFT path; the same small kernel in its centre
    big[2:5, 3:6, 3:6] = small
    np.testing.assert_allclose(convolve_nd(image, big, boundary), convolve_nd(image, small, boundary), atol=1e-12)


def test_separable_equals_outer_product_and_dilation_inserts_zeros() -> None:
    rng = np.random.default_rng(2)
    image = rng.normal(size=(6, 8, 9))
    a, b = np.array([1.0, -2.0, 0.5]), np.array([0.25, 1.0, 3.0])
    dense = np.einsum("i,j->ij", a, b)[None]
    np.testing.assert_allclose(
        convolve_separable(image, [a, b], axes=[1, 2], boundary="mirror"),
        convolve_nd(image, dense, "mirror"), atol=1e-12,
    )
    np.testing.assert_array_equal(dilate_kernel(a, 2), [1.0, 0.0, -2.0, 0.0, 0.5])
    np.testing.assert_allclose(
        convolve_1d(image, a, axis=0, boundary="periodic", dilation=2),
        convolve_1d(image, dilate_kernel(a, 2), axis=0, boundary="periodic"),
    )


def test_unknown_boundary_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="mirror"):
        convolve_1d(np.zeros((2, 2, 2)), np.ones(3), axis=0, boundary="reflect")


def test_statistics_match_independent_formulas() -> None:
    x = np.random.default_rng(3).gamma(2.0, 3.0, size=1001) - 4.0
    s = intensity_statistics(x)
    assert tuple(s.index) == STATISTIC_TAGS
    p10, p25, p50, p75, p90 = np.quantile(x, [0.1, 0.25, 0.5, 0.75, 0.9])
    inner = x[(x >= p10) & (x <= p90)]
    expected = {
        "stat_mean": np.mean(x), "stat_var": np.var(x), "stat_skew": stats.skew(x),
        "stat_kurt": stats.kurtosis(x, fisher=True, bias=True), "stat_median": np.median(x),
        "stat_min": x.min(), "stat_p10": p10, "stat_p90": p90, "stat_max": x.max(),
        "stat_iqr": stats.iqr(x), "stat_range": np.ptp(x),
        "stat_mad": np.mean(np.abs(x - x.mean())), "stat_rmad": np.mean(np.abs(inner - inner.mean())),
        "stat_medad": np.mean(np.abs(x - np.median(x))), "stat_cov": np.std(x) / np.mean(x),
        "stat_qcod": (p75 - p25) / (p75 + p25), "stat_energy": np.dot(x, x), "stat_rms": np.sqrt(np.mean(x * x)),
    }
    for tag, value in expected.items():
        assert s[tag] == pytest.approx(value, rel=1e-12), tag


def test_statistics_flat_region_and_bad_input() -> None:
    s = intensity_statistics(np.full(10, 2.0))
    assert s["stat_skew"] == 0.0 and s["stat_kurt"] == 0.0 and s["stat_var"] == 0.0
    with pytest.raises(DataError):
        intensity_statistics(np.array([]))
    with pytest.raises(DataError):
        intensity_statistics(np.array([1.0, np.nan]))


@pytest.mark.parametrize("kernel,pooling", [("E5L5S5", "max"), ("E3W5R5", "mean")])
def test_rotation_invariant_laws_pools_the_rotated_dense_kernels(kernel: str, pooling: str) -> None:
    """Laws' pooling over rotated images equals pooling over the 24 rotated 3-D kernels, built densely."""
    from itertools import permutations, product

    from radscore.features.ibsi2.convolution import convolve_nd
    from radscore.features.ibsi2.laws import laws_filter, laws_kernels

    rng = np.random.default_rng(5)
    image = rng.normal(size=(9, 11, 10))
    kx, ky, kz = laws_kernels(kernel)
    dense = np.einsum("i,j,k->ijk", kz, ky, kx)  # (z, y, x)
    responses = []
    for perm in permutations(range(3)):
        for flips in product((False, True), repeat=3):
            rotated = np.transpose(dense, perm)
            for axis in np.flatnonzero(flips):
                rotated = np.flip(rotated, axis)
            # a proper rotation: the signed permutation matrix has determinant +1
            if np.linalg.det(np.eye(3)[list(perm)]) * (-1) ** sum(flips) > 0:
                responses.append(convolve_nd(image, rotated, "mirror"))
    assert len(responses) == 24
    expected = np.max(responses, axis=0) if pooling == "max" else np.mean(responses, axis=0)
    ours = laws_filter(image, (1.0, 1.0, 1.0), boundary="mirror", dimensions="3D", kernel=kernel,
                       rotation_invariance=True, pooling=pooling)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-10)
    plain = laws_filter(image, (1.0, 1.0, 1.0), boundary="mirror", dimensions="3D", kernel=kernel)
    assert not np.allclose(plain, expected)
