"""Right-angle rotations of the image grid, for rotation-invariant IBSI 2 filters.

IBSI 2 (arXiv:2006.05470, section 2.4) makes a directional filter approximately rotation
invariant by filtering the image in every orientation of a discrete rotation group and
pooling the responses voxel by voxel: the 24 right-angle rotations of the cube in 3-D, the
4 right-angle rotations of the axial plane in 2-D. Each orientation rotates the *image*,
filters it, and rotates the response back, so even-length kernels (wavelets) keep the
centre convention of the unrotated filter, which is what the IBSI 2 reference maps show.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from radscore.errors import ConfigError

#: Pooling of the rotated responses IBSI 2 names.
POOLING = ("mean", "max", "min")

# A rotation is (axis permutation, axes to flip after permuting).
_Rotation = tuple[tuple[int, int, int], tuple[bool, bool, bool]]


def right_angle_rotations(dimensions: str) -> list[_Rotation]:
    """The proper right-angle rotations of a ``(z, y, x)`` grid.

    ``"3D"``: all 24 (axis permutations times flips with determinant +1); ``"2D"``: the 4
    rotations of the (y, x) plane, z untouched. The identity comes first.
    """
    if dimensions == "3D":
        rotations = []
        for perm in itertools.permutations(range(3)):
            parity = np.linalg.det(np.eye(3)[list(perm)])
            for flips in itertools.product((False, True), repeat=3):
                if parity * (-1) ** sum(flips) > 0:
                    rotations.append((perm, flips))
        return rotations
    if dimensions == "2D":
        # Quarter turns in (y, x): identity, swap + flip x, flip y and x, swap + flip y.
        return [((0, 1, 2), (False, False, False)), ((0, 2, 1), (False, False, True)),
                ((0, 1, 2), (False, True, True)), ((0, 2, 1), (False, True, False))]
    raise ConfigError(f"unknown IBSI 2 filter dimensions {dimensions!r}", fix="use '2D' (per axial slice) or '3D'")


def rotate(image: np.ndarray, rotation: _Rotation) -> np.ndarray:
    """``image`` seen in the orientation ``rotation``."""
    perm, flips = rotation
    out = np.transpose(image, perm)
    for axis, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis)
    return out


def unrotate(image: np.ndarray, rotation: _Rotation) -> np.ndarray:
    """Inverse of :func:`rotate`."""
    perm, flips = rotation
    out = image
    for axis, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis)
    return np.transpose(out, np.argsort(perm))


def pooled_over_rotations(
    filter_fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray, dimensions: str, pooling: str = "mean"
) -> np.ndarray:
    """Pool ``filter_fn`` over the right-angle rotations of ``image``.

    Parameters
    ----------
    filter_fn : callable
        ``(z, y, x) array -> response of the same shape``, in the unrotated orientation.
    image : numpy.ndarray
        ``(z, y, x)`` image.
    dimensions : str
        ``"3D"`` (24 rotations) or ``"2D"`` (4 in-plane rotations).
    pooling : str
        ``"mean"``, ``"max"`` or ``"min"`` over the rotated responses.
    """
    if pooling not in POOLING:
        raise ConfigError(f"unknown rotation pooling {pooling!r}", fix=f"use one of {', '.join(POOLING)}")
    pooled: np.ndarray | None = None
    rotations = right_angle_rotations(dimensions)
    for rotation in rotations:
        response = unrotate(filter_fn(rotate(image, rotation)), rotation)
        if pooled is None:
            pooled = np.array(response, dtype=np.float64)
        elif pooling == "mean":
            pooled += response
        elif pooling == "max":
            np.maximum(pooled, response, out=pooled)
        else:
            np.minimum(pooled, response, out=pooled)
    assert pooled is not None
    return pooled / len(rotations) if pooling == "mean" else pooled
