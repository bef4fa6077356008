"""LBP-3D against its published definition (Banerjee et al. 2013, as coded in PyRadiomics 3.1).

The reference below is written from the definition, voxel by voxel, with the spherical
harmonics built from associated Legendre functions (``scipy.special.lpmv``) in the
argument order of PyRadiomics' call ``sph_harm(m, n, polar, azimuth)`` on the old SciPy
(``sph_harm(m, n, theta_azimuthal, phi_polar)``), i.e. independent of ``sph_harm_y``.
"""

from __future__ import annotations

from math import factorial

import numpy as np
import pytest
from scipy import ndimage, special

from radscore.features.lbp3d import icosphere_vertices, lbp3d


def _old_sph_harm(m, n, azimuthal, polar):
    """SciPy < 1.15 ``sph_harm``: normalised Y_n^m with Condon-Shortley phase."""
    norm = np.sqrt((2 * n + 1) / (4 * np.pi) * factorial(n - m) / factorial(n + m))
    return norm * special.lpmv(m, n, np.cos(polar)) * np.exp(1j * m * azimuthal)


def _reference(image, mask, levels=2, radius=1.0):
    verts = icosphere_vertices(1, radius)
    theta = np.arccos(verts[:, 2] / radius)  # what PyRadiomics called theta (the polar angle)
    phi = np.arctan2(verts[:, 1], verts[:, 0])
    coeffs = ndimage.spline_filter(image, order=3, mode="constant")
    out = {f"lbp-3D-m{lvl + 1}": np.zeros(image.shape) for lvl in range(levels)}
    out["lbp-3D-k"] = np.zeros(image.shape)
    for p in zip(*np.nonzero(mask)):
        pts = (np.array(p)[None, :] + verts).T
        f = ndimage.map_coordinates(coeffs, pts, order=3, mode="constant", prefilter=False)
        dev = f - f.mean()
        out["lbp-3D-k"][p] = np.mean(dev ** 4) / np.mean(dev ** 2) ** 2 - 3.0
        b = (f >= image[p]).astype(float)
        for n in range(levels):
            g = np.zeros(len(verts), complex)
            for m in range(-n, n + 1):
                y = _old_sph_harm(m, n, theta, phi)
                g += np.sum(b * y) * y
            out[f"lbp-3D-m{n + 1}"][p] = np.real(np.sqrt(np.sum(g ** 2)))
    return out


def test_icosphere_has_42_unit_vertices():
    v = icosphere_vertices(1, 2.0)
    assert v.shape == (42, 3)
    assert np.allclose(np.linalg.norm(v, axis=1), 2.0)
    assert len(np.unique(np.round(v, 9), axis=0)) == 42


@pytest.mark.parametrize("levels", [2, 3])
def test_lbp3d_matches_definition(levels):
    rng = np.random.default_rng(7)
    image = ndimage.gaussian_filter(rng.normal(0, 10, (14, 15, 16)), 0.8)
    mask = np.zeros(image.shape, bool)
    mask[4:10, 5:11, 3:12] = rng.random((6, 6, 9)) > 0.3
    ours = lbp3d(image, mask, levels=levels)
    ref = _reference(image, mask, levels=levels)
    assert set(ours) == set(ref)
    for name in ref:
        np.testing.assert_allclose(ours[name][mask], ref[name][mask], rtol=1e-9, atol=1e-9, err_msg=name)
        assert np.all(ours[name][~mask] == 0)
    # not degenerate: the levels carry information
    assert np.ptp(ours["lbp-3D-m1"][mask]) > 0 and np.ptp(ours["lbp-3D-k"][mask]) > 0


@pytest.mark.parametrize("where, radius", [("interior", 1.0), ("interior", 2.5), ("edge", 1.0)])
def test_sphere_samples_equal_map_coordinates_bit_for_bit(where, radius):
    """The separable sampler gives SciPy's float32 interpolated values exactly (PyRadiomics' step 1)."""
    from radscore.features.lbp3d import _sample_on_sphere

    rng = np.random.default_rng(3)
    image = (ndimage.gaussian_filter(rng.normal(0, 300, (30, 32, 34)), 1.0) - 500).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    if where == "interior":
        mask[10:20, 9:22, 8:25] = rng.random((10, 13, 17)) > 0.4
    else:  # support leaves the array: SciPy's boundary rule, via map_coordinates
        mask[0:6, 3:9, 28:34] = True
    verts = icosphere_vertices(1, radius)
    coords = np.array(np.nonzero(mask)).T[None, :, :] + verts[:, None, :]
    ref = ndimage.map_coordinates(image, coords.T, order=3)
    ours = _sample_on_sphere(image, mask, verts)
    assert ours.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(ours, ref)
