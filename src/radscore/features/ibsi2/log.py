"""IBSI 2 Laplacian-of-Gaussian filter (reference manual arXiv:2006.05470, section 2.3.2).

IBSI 2's kernel is ``-1/sigma^2 (D - |x|^2/sigma^2) prod_i g_sigma(x_i)`` on the voxel
grid (``D`` = 2 or 3 filtered axes, ``g_sigma`` the unit-area 1-D Gaussian, ``sigma`` in
voxels = ``sigma_mm / spacing``), truncated at ``floor(truncate * sigma + 0.5)`` voxels
from the centre. That is the sum over the filtered axes of the Gaussian's second derivative
along one axis times the Gaussian along the others, so it is applied as ``D`` separable
passes of ``scipy.ndimage.gaussian_filter1d`` (whose truncation radius is the same
``int(truncate * sigma + 0.5)``). scipy normalises the sampled Gaussian to unit sum, the
reference does not; on IBSI 2's phantoms the difference is below 1e-4 of the map's range.

Response values are per voxel^2 (the kernel is not scaled by ``sigma^2``), as in the
reference maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import filter_axes, ndimage_mode


def log_filter(
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    sigma_mm: float,
    truncate: float = 4.0,
) -> np.ndarray:
    """Laplacian of Gaussian of scale ``sigma_mm``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image.
    spacing : sequence of float
        ``(z, y, x)`` voxel spacing in mm.
    boundary : str
        IBSI 2 boundary mode.
    dimensions : str
        ``"2D"`` (each axial slice) or ``"3D"``.
    sigma_mm : float
        Gaussian scale in mm.
    truncate : float
        Kernel half-width in units of sigma (IBSI 2 uses 4).

    Returns
    -------
    numpy.ndarray
        float64 response map of ``image``'s shape.
    """
    if sigma_mm <= 0 or truncate <= 0:
        raise ConfigError(f"LoG needs sigma_mm > 0 and truncate > 0, got {sigma_mm} and {truncate}")
    axes = filter_axes(dimensions)
    mode = ndimage_mode(boundary)
    img = np.asarray(image, dtype=np.float64)
    out = np.zeros_like(img)
    for second in axes:
        term = img
        for axis in axes:
            term = ndimage.gaussian_filter1d(
                term, sigma_mm / spacing[axis], axis=axis, order=2 if axis == second else 0,
                mode=mode, truncate=truncate,
            )
        out += term
    return out
