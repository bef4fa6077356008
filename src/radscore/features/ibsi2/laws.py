"""IBSI 2 Laws kernels (reference manual arXiv:2006.05470, section 2.3.3).

A Laws filter is the outer product of 1-D kernels named in order of the image axes
``x, y, z``: ``"E5L5S5"`` is E5 along x, L5 along y, S5 along z; ``"L5S5"`` a 2-D filter
(x, y) applied to each axial slice. The 1-D kernels are IBSI 2's, normalised to unit
L2 norm (its table 2).

Rotation invariance (IBSI 2 section 2.2.2): the filter is applied in all right-angle
orientations of its kernel - the 24 rotations of the cube in 3-D, 4 in-plane rotations in
2-D - and the responses pooled voxel-wise by ``max`` (or ``mean``). A right-angle rotation
of a separable kernel moves each 1-D kernel to another axis and possibly reverses it, so
every orientation is again separable: a signed permutation of the axes with determinant +1.

Energy (``energy_delta``): the local mean of the response's absolute value over a
``2 delta + 1`` voxel window along each filtered axis, with the same boundary mode; it is
taken from the (pooled) response.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import convolve_separable, filter_axes

#: IBSI 2's 1-D Laws kernels before normalisation.
_KERNELS: dict[str, tuple[float, ...]] = {
    "L3": (1, 2, 1), "E3": (-1, 0, 1), "S3": (-1, 2, -1),
    "L5": (1, 4, 6, 4, 1), "E5": (-1, -2, 0, 2, 1), "S5": (-1, 0, 2, 0, -1),
    "W5": (-1, 2, 0, -2, 1), "R5": (1, -4, 6, -4, 1),
}

_POOLING = {"max": np.maximum, "mean": np.add}


def laws_kernels(name: str) -> list[np.ndarray]:
    """The unit-norm 1-D kernels of a Laws filter name, in x, y(, z) order."""
    parts = [name[i:i + 2].upper() for i in range(0, len(name), 2)]
    if len(name) % 2 or len(parts) not in (2, 3) or any(p not in _KERNELS for p in parts):
        raise ConfigError(f"unknown Laws kernel {name!r}",
                          fix=f"name 2 or 3 of {', '.join(_KERNELS)} in x, y(, z) order, e.g. 'E5L5S5'")
    return [np.array(_KERNELS[p], dtype=np.float64) / np.linalg.norm(_KERNELS[p]) for p in parts]


def _rotations(n: int) -> list[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """Right-angle rotations of ``n`` axes: (axis permutation, reversed per axis), det = +1."""
    out = []
    for perm in itertools.permutations(range(n)):
        # parity of the permutation by counting inversions
        parity = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n)) % 2
        for flips in itertools.product((False, True), repeat=n):
            if (parity + sum(flips)) % 2 == 0:
                out.append((perm, flips))
    return out


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
        ``"max"`` or ``"mean"`` over orientations.
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
    if pooling not in _POOLING:
        raise ConfigError(f"unknown pooling {pooling!r}", fix="use 'max' or 'mean'")
    # kernel i acts along image axis x, y, z = array axis 2, 1, 0
    array_axes = [2, 1, 0][: len(kernels)]
    orientations = _rotations(len(kernels)) if rotation_invariance else [(tuple(range(len(kernels))),
                                                                           (False,) * len(kernels))]
    pooled = None
    for perm, flips in orientations:
        ks = [kernels[p][::-1] if f else kernels[p] for p, f in zip(perm, flips)]
        response = convolve_separable(image, ks, array_axes, boundary)
        pooled = response if pooled is None else _POOLING[pooling](pooled, response)
    assert pooled is not None
    if pooling == "mean":
        pooled = pooled / len(orientations)
    if energy_delta is None:
        return pooled
    if energy_delta < 0:
        raise ConfigError(f"Laws energy_delta must be >= 0, got {energy_delta}")
    size = 2 * energy_delta + 1
    box = np.full(size, 1.0 / size)
    return convolve_separable(np.abs(pooled), [box] * len(axes), axes, boundary)
