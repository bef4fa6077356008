"""Riesz transforms of IBSI 2 filter responses (IBSI 2 tests 9 and 10).

The Riesz transform of order ``l = (l_x, l_y, l_z)`` (IBSI 2, arXiv:2006.05470, section
3.7; Unser & Van De Ville, IEEE TIP 2010) multiplies the Fourier transform by::

    R_l(w) = (-j)**|l| * sqrt(|l|! / (l_x! l_y! l_z!)) * prod_i (w_i / ||w||)**l_i,   R_l(0) = 0,

with ``|l| = l_x + l_y + l_z``. It commutes with convolution, so the Riesz transform of a
filter (LoG, Simoncelli, ...) applied to an image equals the Riesz transform of that
filter's response map: :func:`riesz` filters with any registered family and transforms
the response. The frequency grid is the DFT's (``2 pi k / n``); a non-periodic boundary
extends the response map by half its size in that mode before the FFT (as the Simoncelli
filter does), so the wrap-around only sees the extension.

The rotation-aligned ("steered") Riesz variants of IBSI 2 tests 9.b.2 / 10.a / 10.b.2
(orientation from a structure tensor) are not implemented; those tests have no reference
map either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import factorial
from typing import Any

import numpy as np

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import filter_axes
from radscore.features.ibsi2.simoncelli import fourier_filter


def riesz_transfer(shape: Sequence[int], order: Sequence[int]) -> np.ndarray:
    """Riesz multiplier on an FFT-ordered grid; ``shape`` and ``order`` in array axis order."""
    total = int(sum(order))
    freqs = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij", sparse=True)
    norm = np.sqrt(sum(f**2 for f in freqs))
    norm[(0,) * len(shape)] = 1.0  # R(0) = 0 below: every factor with l_i > 0 has w_i = 0 there
    weight = np.sqrt(factorial(total) / np.prod([factorial(int(o)) for o in order]))
    transfer = (-1j) ** total * weight * np.ones(norm.shape, dtype=np.complex128)
    for f, o in zip(freqs, order):
        if o:
            transfer = transfer * (f / norm) ** int(o)
    if total == 0:
        return transfer
    transfer[(0,) * len(shape)] = 0.0
    return transfer


def riesz_transform(response: np.ndarray, order: Sequence[int], *, boundary: str, dimensions: str) -> np.ndarray:
    """Real part of the Riesz transform of order ``order`` ((x, y, z) / (x, y)) of ``response``."""
    axes = filter_axes(dimensions)
    if len(order) != len(axes) or any(int(o) != o or o < 0 for o in order):
        raise ConfigError(f"Riesz order {tuple(order)} does not fit a {dimensions} filter",
                          fix=f"give {len(axes)} non-negative integers in (x, y, z) order, e.g. (1, 0, 0)")
    array_order = [int(o) for o in reversed(tuple(order))]  # (x, y, z) -> array axes (z, y, x)
    return fourier_filter(response, lambda shape: riesz_transfer(shape, array_order), axes, boundary)


def riesz(
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    filter: str,
    order: Sequence[int],
    filter_params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Riesz-transformed response map of the IBSI 2 filter ``filter``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image.
    spacing : sequence of float
        ``(z, y, x)`` spacing in mm, passed to the base filter.
    boundary, dimensions : str
        IBSI 2 boundary mode and ``"2D"`` / ``"3D"``, for the base filter and the transform.
    filter : str
        Base filter family of :mod:`.dispatch` (e.g. ``"log"``, ``"simoncelli"``).
    order : sequence of int
        Riesz order in (x, y, z) order (2 values in 2-D).
    filter_params : mapping, optional
        The base filter's parameters.

    Returns
    -------
    numpy.ndarray
        float64 response map of ``image``'s shape.
    """
    from radscore.features.ibsi2.dispatch import apply_filter  # the dispatch registers this module

    if filter == "riesz":
        raise ConfigError("a Riesz filter cannot transform another Riesz filter", fix="give a base filter family")
    response = apply_filter(filter, image, spacing, boundary=boundary, dimensions=dimensions, params=filter_params)
    return riesz_transform(response, order, boundary=boundary, dimensions=dimensions)
