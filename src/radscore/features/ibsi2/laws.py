"""IBSI 2 Laws kernels (reference manual arXiv:2006.05470, section 2.3.3).

A Laws filter is the outer product of 1-D kernels named in order of the image axes
``x, y, z``: ``"E5L5S5"`` is E5 along x, L5 along y, S5 along z; ``"L5S5"`` a 2-D filter
(x, y) applied to each axial slice. The 1-D kernels are IBSI 2's, normalised to unit
L2 norm (its table 2).

Rotation invariance (IBSI 2 section 2.2.2): the filter is applied in all right-angle
orientations - the 24 rotations of the cube in 3-D, 4 in-plane rotations in 2-D - and the
responses pooled voxel-wise by ``max`` (or ``mean``), by :func:`.rotation.pooled_over_rotations`
(shared with the wavelets), which rotates the image rather than the kernel. For Laws' odd-length
kernels and IBSI 2's boundary modes (all unchanged by reversing an axis) the two are the same sum.

Energy (``energy_delta``): the local mean of the response's absolute value over a
``2 delta + 1`` voxel window along each filtered axis, with the same boundary mode; it is
taken from the (pooled) response.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import convolve_separable, filter_axes
from radscore.features.ibsi2.rotation import POOLING, pooled_over_rotations

#: IBSI 2's 1-D Laws kernels before normalisation.
_KERNELS: dict[str, tuple[float, ...]] = {
    "L3": (1, 2, 1), "E3": (-1, 0, 1), "S3": (-1, 2, -1),
    "L5": (1, 4, 6, 4, 1), "E5": (-1, -2, 0, 2, 1), "S5": (-1, 0, 2, 0, -1),
    "W5": (-1, 2, 0, -2, 1), "R5": (1, -4, 6, -4, 1),
}


def laws_kernels(name: str) -> list[np.ndarray]:
    """The unit-norm 1-D kernels of a Laws filter name, in x, y(, z) order."""
    parts = [name[i:i + 2].upper() for i in range(0, len(name), 2)]
    if len(name) % 2 or len(parts) not in (2, 3) or any(p not in _KERNELS for p in parts):
        raise ConfigError(f"unknown Laws kernel {name!r}",
                          fix=f"name 2 or 3 of {', '.join(_KERNELS)} in x, y(, z) order, e.g. 'E5L5S5'")
    return [np.array(_KERNELS[p], dtype=np.float64) / np.linalg.norm(_KERNELS[p]) for p in parts]


def laws_filter(
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    kernel: str,
    rotation_invariance: bool = False,
    pooling: str = "max",
    energy_delta: int | None = None,
) -> np.ndarray:
    """Laws filter response (or energy map).

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image.
    spacing : sequence of float
        ``(z, y, x)`` voxel spacing in mm (unused: Laws kernels are defined in voxels).
    boundary : str
        IBSI 2 boundary mode.
    dimensions : str
        ``"2D"`` (each axial slice) or ``"3D"``; must match the number of 1-D kernels.
    kernel : str
        Laws kernel name in x, y(, z) order, e.g. ``"E5L5S5"`` or ``"L5S5"``.
    rotation_invariance : bool
        Pool over all right-angle orientations of the kernel.
    pooling : str
        ``"max"``, ``"mean"`` or ``"min"`` over orientations.
    energy_delta : int, optional
        Return the energy map over a ``2 * energy_delta + 1`` window instead of the response.

    Returns
    -------
    numpy.ndarray
        float64 response map of ``image``'s shape.
    """
    kernels = laws_kernels(kernel)
    axes = filter_axes(dimensions)
    if len(kernels) != len(axes):
        raise ConfigError(f"Laws kernel {kernel!r} has {len(kernels)} axes but the filter is {dimensions}",
                          fix="use 2 kernels (e.g. 'L5S5') for 2D, 3 (e.g. 'E5L5S5') for 3D")
    if pooling not in POOLING:
        raise ConfigError(f"unknown pooling {pooling!r}", fix=f"use one of {', '.join(POOLING)}")
    # kernel i acts along image axis x, y, z = array axis 2, 1, 0
    array_axes = [2, 1, 0][: len(kernels)]

    def one_orientation(img: np.ndarray) -> np.ndarray:
        return convolve_separable(img, kernels, array_axes, boundary)

    if rotation_invariance:
        pooled = pooled_over_rotations(one_orientation, image, dimensions, pooling)
    else:
        pooled = one_orientation(image)
    if energy_delta is None:
        return pooled
    if energy_delta < 0:
        raise ConfigError(f"Laws energy_delta must be >= 0, got {energy_delta}")
    size = 2 * energy_delta + 1
    box = np.full(size, 1.0 / size)
    return convolve_separable(np.abs(pooled), [box] * len(axes), axes, boundary)
