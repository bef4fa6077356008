"""IBSI 2 Gabor filter (reference manual arXiv:2006.05470, section 2.3.4).

The 2-D Gabor kernel, in mm coordinates of the filtered plane,

``g(x, y) = exp(-(u^2 + gamma^2 v^2) / (2 sigma^2)) exp(i 2 pi u / lambda)``,
``u = x cos(theta) + y sin(theta)``, ``v = -x sin(theta) + y cos(theta)``,

with ``x`` along the image's x axis (array columns) and ``y`` along increasing row
index. Like the IBSI 2 consensus maps (the impulse response peaks at the impulse's own
value), the kernel carries no normalising factor. It is truncated at
``floor(truncate * max(sigma, sigma / gamma) / spacing + 0.5)`` voxels along each plane
axis, so the Gaussian envelope's longer axis is covered for any ``gamma``. The response is
the modulus of the complex convolution.

``"2D"`` filters each axial slice. ``"3D"`` is IBSI 2's orthogonal-plane variant: the 2-D
filter in the axial, coronal and sagittal planes, responses averaged. Rotation invariance
pools (``mean`` or ``max``) the responses of ``theta = 0, step, 2 step, ... < 360`` degrees
in each plane.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import convolve_nd, filter_axes

#: (row axis "y", column axis "x") of each filtered plane of a (z, y, x) array.
_PLANES: dict[str, tuple[tuple[int, int], ...]] = {"2D": ((1, 2),), "3D": ((1, 2), (0, 2), (0, 1))}


def gabor_kernel(
    sigma_mm: float, lambda_mm: float, gamma: float, theta_deg: float, spacing: tuple[float, float], truncate: float
) -> np.ndarray:
    """Complex 2-D Gabor kernel on a ``(rows, columns)`` grid of ``spacing`` mm."""
    reach = truncate * max(sigma_mm, sigma_mm / gamma)
    rows, cols = (np.arange(-r, r + 1) * s for r, s in
                  ((int(np.floor(reach / s + 0.5)), s) for s in spacing))
    y, x = np.meshgrid(rows, cols, indexing="ij")
    theta = np.deg2rad(theta_deg)
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    return np.exp(-(u**2 + gamma**2 * v**2) / (2.0 * sigma_mm**2)) * np.exp(2j * np.pi * u / lambda_mm)


def gabor_filter(
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    sigma_mm: float,
    lambda_mm: float,
    gamma: float,
    theta_deg: float = 0.0,
    rotation_invariance: bool = False,
    theta_step_deg: float = 45.0,
    pooling: str = "mean",
    truncate: float = 4.0,
) -> np.ndarray:
    """Modulus of the Gabor response.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image.
    spacing : sequence of float
        ``(z, y, x)`` voxel spacing in mm.
    boundary : str
        IBSI 2 boundary mode.
    dimensions : str
        ``"2D"`` (axial slices) or ``"3D"`` (mean over the three orthogonal planes).
    sigma_mm, lambda_mm : float
        Envelope scale and wavelength in mm.
    gamma : float
        Spatial aspect ratio of the envelope.
    theta_deg : float
        Orientation in degrees (ignored with ``rotation_invariance``).
    rotation_invariance : bool
        Pool over ``theta = 0, theta_step_deg, ... < 360``.
    theta_step_deg : float
        Orientation step for rotation invariance.
    pooling : str
        ``"mean"`` or ``"max"`` over orientations.
    truncate : float
        Kernel half-width in units of the envelope's longer scale.

    Returns
    -------
    numpy.ndarray
        float64 response map of ``image``'s shape.
    """
    filter_axes(dimensions)  # validates the name
    if min(sigma_mm, lambda_mm, gamma, truncate) <= 0:
        raise ConfigError("Gabor needs sigma_mm, lambda_mm, gamma and truncate > 0",
                          fix="e.g. sigma_mm: 5, lambda_mm: 2, gamma: 1.5")
    if pooling not in ("mean", "max"):
        raise ConfigError(f"unknown pooling {pooling!r}", fix="use 'mean' or 'max'")
    if rotation_invariance:
        if theta_step_deg <= 0:
            raise ConfigError(f"Gabor theta_step_deg must be > 0, got {theta_step_deg}")
        thetas = list(np.arange(0.0, 360.0, theta_step_deg))
    else:
        thetas = [theta_deg]
    # The kernel at theta + 180 is the complex conjugate of the one at theta, so a real
    # image's modulus is the same: each orientation modulo 180 degrees is filtered once and
    # counted as often as it occurs.
    weights: dict[float, int] = {}
    for theta in thetas:
        key = round(float(theta) % 180.0, 9)
        weights[key] = weights.get(key, 0) + 1
    planes = _PLANES[dimensions]
    out = np.zeros(np.shape(image))
    for row_axis, col_axis in planes:
        other = ({0, 1, 2} - {row_axis, col_axis}).pop()
        pooled = np.zeros(np.shape(image)) if pooling == "mean" else np.full(np.shape(image), -np.inf)
        for theta, count in weights.items():
            k2 = gabor_kernel(sigma_mm, lambda_mm, gamma, theta, (spacing[row_axis], spacing[col_axis]), truncate)
            # the plane kernel in 3-D, with a singleton along the remaining axis
            response = np.abs(convolve_nd(image, np.expand_dims(k2, other), boundary))
            pooled = pooled + count * response if pooling == "mean" else np.maximum(pooled, response)
        out += pooled / len(thetas) if pooling == "mean" else pooled
    return out / len(planes)
