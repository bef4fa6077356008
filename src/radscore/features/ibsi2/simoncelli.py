"""Non-separable Simoncelli wavelet of IBSI 2, applied in the Fourier domain.

IBSI 2 (arXiv:2006.05470, section 3.6) defines the isotropic Simoncelli wavelet by its
Fourier transform at decomposition level ``j``::

    psi_j(w) = cos(pi/2 * log2(2 ||w|| / w_j))   for w_j / 4 <= ||w|| <= w_j,   else 0,
    w_j = pi / 2**(j - 1),

a band-pass whose pass band halves with every level (level 1: ``[pi/4, pi]``). The
response is the real part of the inverse FFT of ``FFT(image) * psi_j``.

Frequency grid: along an axis of ``n`` samples the frequencies are ``n`` points spanning
``[-pi, pi]`` inclusive (``numpy.linspace``), moved to FFT order by ``ifftshift``. This is
the grid of the implementations behind the IBSI 2 consensus maps: it reproduces phase-1
tests 8.a.2 and 8.a.3 to float32 rounding, and 8.a.1 to 0.4 % of the map's range (the
exact DFT grid ``2 pi k / n`` is 1-8 % off), see tests/features/test_ibsi2_phase1_wavelets.py.

Boundary modes: ``periodic`` is the FFT itself. Any other mode first extends the image by
half its size on each side of every filtered axis in that mode, filters the extended image
and crops it back, so the circular wrap-around of the FFT only sees the extension. IBSI 2's
phase 2 consensus statistics (configurations 8 and 9) follow ``periodic`` on the whole image,
not this extension (tests/features/test_ibsi2_phase2.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radscore.errors import ConfigError
from radscore.features.ibsi2.convolution import filter_axes, pad_mode


def simoncelli_transfer(shape: Sequence[int], level: int) -> np.ndarray:
    """The level-``level`` Simoncelli transfer function on an FFT-ordered grid of ``shape``."""
    if int(level) != level or level < 1:
        raise ConfigError(f"Simoncelli decomposition level must be a positive integer, got {level!r}")
    # Radial frequency in units of pi: linspace(-1, 1, n) per axis (see module docstring).
    grids = np.meshgrid(*[np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1) for n in shape],
                        indexing="ij", sparse=True)
    radius = np.sqrt(sum(g**2 for g in grids))
    top = 1.0 / 2 ** (level - 1)
    transfer = np.zeros(radius.shape)
    band = (radius >= top / 4) & (radius <= top)
    transfer[band] = np.cos(np.pi / 2 * np.log2(2 * radius[band] / top))
    return np.fft.ifftshift(transfer)


def fourier_filter(image: np.ndarray, transfer_fn, axes: Sequence[int], boundary: str) -> np.ndarray:
    """Filter ``image`` along ``axes`` by a transfer function built for the (padded) grid.

    ``transfer_fn(shape)`` returns the FFT-ordered transfer function for a grid of
    ``shape`` (the filtered axes only). Non-periodic boundaries pad by half the size.
    """
    img = np.asarray(image, dtype=np.float64)
    axes = tuple(axes)
    if boundary in ("periodic",):
        padded, crop = img, None
    else:
        widths = [(0, 0)] * img.ndim
        for axis in axes:
            widths[axis] = (img.shape[axis] // 2, img.shape[axis] // 2)
        padded = np.pad(img, widths, mode=pad_mode(boundary))
        crop = tuple(slice(w[0], w[0] + n) for w, n in zip(widths, img.shape))
    shape = [padded.shape[a] for a in axes]
    transfer = np.asarray(transfer_fn(shape))
    # Broadcast the transfer function over the unfiltered axes (z in 2-D).
    expand = [slice(None) if a in axes else np.newaxis for a in range(img.ndim)]
    spectrum = np.fft.fftn(padded, axes=axes) * transfer[tuple(expand)]
    out = np.real(np.fft.ifftn(spectrum, axes=axes))
    return out if crop is None else np.ascontiguousarray(out[crop])


def simoncelli(
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    level: int = 1,
) -> np.ndarray:
    """Simoncelli wavelet response map at decomposition ``level``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` image.
    spacing : sequence of float
        ``(z, y, x)`` spacing in mm; unused (the wavelet is defined per voxel), kept for
        the common filter signature.
    boundary : str
        IBSI 2 boundary mode; ``periodic`` filters without padding.
    dimensions : str
        ``"3D"`` or ``"2D"`` (each axial slice on its own).
    level : int
        Decomposition level, 1 = the finest band ``[pi/4, pi]``.

    Returns
    -------
    numpy.ndarray
        float64 response map of ``image``'s shape.
    """
    axes = filter_axes(dimensions)
    return fourier_filter(image, lambda shape: simoncelli_transfer(shape, level), axes, boundary)
