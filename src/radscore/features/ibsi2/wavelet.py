"""Separable, undecimated wavelet filters of IBSI 2 (Haar, Daubechies 2 and 3, Coiflet 1).

IBSI 2 (arXiv:2006.05470, section 3.5) filters with the *undecimated* wavelet transform:
no downsampling, so every sub-band is a response map of the image's size. A sub-band is
named by one letter per image axis in (x, y, z) order, ``L`` for the low-pass
(scaling) filter and ``H`` for the high-pass (wavelet) filter, e.g. ``"LHL"``: low-pass
along x and z, high-pass along y. Decomposition level ``j > 1`` is reached *a trous*: the
image is low-passed along every axis at levels ``1 .. j-1`` (the ``LLL`` path) and the
level-``j`` sub-band filters are the level-1 taps with ``2**(j-1) - 1`` zeros after each
tap. Filter taps are PyWavelets' decomposition filters (``dec_lo`` / ``dec_hi``), which
are not normalised to unit gain: a constant image of value ``c`` has an ``LLL`` response
of ``c * 2**(3 j / 2)``, as the IBSI 2 reference maps do.

Centre convention: the kernels are *convolved* (``scipy.ndimage.convolve1d`` centring an
even-length kernel of ``n`` taps at index ``n // 2``); a dilated kernel keeps its trailing
zeros, i.e. is centred as the ``n * 2**(j-1)``-tap kernel. With these conventions the
response maps of IBSI 2 phase-1 tests 5.a-7.a are reproduced to float32 rounding
(tests/features/test_ibsi2_phase1_wavelets.py).

Rotation invariance (IBSI 2 section 2.4): the response is averaged over the 24 right-angle
rotations of the image (4 in-plane rotations in 2-D), see :mod:`.rotation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pywt

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import convolve_1d, filter_axes
from radscore.features.ibsi2.rotation import pooled_over_rotations

#: Wavelet families IBSI 2 tests (PyWavelets names).
WAVELETS = ("haar", "db2", "db3", "coif1")


def wavelet_filters(wavelet: str) -> tuple[np.ndarray, np.ndarray]:
    """Low-pass and high-pass decomposition taps of ``wavelet``."""
    if wavelet not in WAVELETS:
        raise ConfigError(f"unknown IBSI 2 wavelet {wavelet!r}", fix=f"use one of {', '.join(WAVELETS)}")
    w = pywt.Wavelet(wavelet)
    return np.asarray(w.dec_lo, dtype=np.float64), np.asarray(w.dec_hi, dtype=np.float64)


def separable_wavelet(
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    wavelet: str,
    subband: str,
    level: int = 1,
    rotation_invariance: bool = False,
    pooling: str = "mean",
) -> np.ndarray:
    """Undecimated separable wavelet response map of one sub-band.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image.
    spacing : sequence of float
        ``(z, y, x)`` voxel spacing in mm; unused (wavelet taps act on voxels), kept for
        the common filter signature.
    boundary : str
        IBSI 2 boundary mode (``zero``, ``nearest``, ``periodic``, ``mirror``).
    dimensions : str
        ``"3D"`` or ``"2D"`` (per axial slice).
    wavelet : str
        ``haar``, ``db2``, ``db3`` or ``coif1``.
    subband : str
        One ``L`` / ``H`` per filtered axis in (x, y, z) order: 3 letters in 3-D, 2 in 2-D.
    level : int
        Decomposition level (1 = the taps themselves).
    rotation_invariance : bool
        Pool over the right-angle rotations of the image.
    pooling : str
        Pooling over rotations; IBSI 2 averages wavelet responses (``"mean"``).

    Returns
    -------
    numpy.ndarray
        float64 response map of ``image``'s shape.
    """
    axes = filter_axes(dimensions)
    code = subband.upper()
    if len(code) != len(axes) or set(code) - {"L", "H"}:
        raise ConfigError(
            f"wavelet sub-band {subband!r} does not fit a {dimensions} filter",
            fix=f"give {len(axes)} letters L/H in (x, y, z) order, e.g. {'LHL' if len(axes) == 3 else 'LH'}",
        )
    if int(level) != level or level < 1:
        raise ConfigError(f"wavelet decomposition level must be a positive integer, got {level!r}")
    low, high = wavelet_filters(wavelet)
    # (x, y, z) letters -> the array axes (z, y, x) they act on.
    kernels = [high if letter == "H" else low for letter in reversed(code)]

    def one_orientation(img: np.ndarray) -> np.ndarray:
        out = np.asarray(img, dtype=np.float64)
        for j in range(1, int(level) + 1):
            dilation = 2 ** (j - 1)
            taps = kernels if j == level else [low] * len(axes)
            for kernel, axis in zip(taps, axes):
                # origin keeps the dilated kernel's trailing zeros (see module docstring).
                out = convolve_1d(out, kernel, axis, boundary, dilation=dilation, origin=dilation // 2)
        return out

    if rotation_invariance:
        return pooled_over_rotations(one_orientation, image, dimensions, pooling)
    return one_orientation(image)
