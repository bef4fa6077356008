"""IBSI 2 mean filter (reference manual arXiv:2006.05470, section 2.3.1).

The response is the average of the ``support`` x ``support`` (x ``support``) voxels
centred on each voxel: a separable convolution with ``ones(support) / support`` along each
filtered axis. The support is given in voxels, as IBSI 2 defines it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import convolve_separable, filter_axes


def mean_filter(
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    support: int,
) -> np.ndarray:
    """Mean of the ``support``-voxel neighbourhood of each voxel.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image.
    spacing : sequence of float
        ``(z, y, x)`` voxel spacing in mm (unused: the support is in voxels).
    boundary : str
        IBSI 2 boundary mode.
    dimensions : str
        ``"2D"`` (each axial slice) or ``"3D"``.
    support : int
        Odd filter size ``M`` in voxels along each filtered axis.

    Returns
    -------
    numpy.ndarray
        float64 response map of ``image``'s shape.
    """
    if support < 1 or support % 2 == 0:
        raise ConfigError(f"mean filter support must be an odd number of voxels, got {support}",
                          fix="use e.g. support: 5")
    axes = filter_axes(dimensions)
    kernel = np.full(support, 1.0 / support)
    return convolve_separable(image, [kernel] * len(axes), axes, boundary)
