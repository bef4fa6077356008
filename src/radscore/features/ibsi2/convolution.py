"""Boundary modes and convolution helpers shared by every IBSI 2 filter family.

IBSI 2 (Depeursinge A et al., "Standardised convolutional filtering for radiomics",
arXiv:2006.05470, section 2.2) names four ways to extend an image beyond its edge before
filtering. Each maps to one ``scipy.ndimage`` mode and one ``numpy.pad`` mode; this table
is the only place the mapping lives:

============  ==========================  ===============  ==============
IBSI 2 name   extension of ``a b c d``    scipy.ndimage    numpy.pad
============  ==========================  ===============  ==============
``zero``      ``0 0 | a b c d | 0 0``     ``constant``     ``constant``
``nearest``   ``a a | a b c d | d d``     ``nearest``      ``edge``
``periodic``  ``c d | a b c d | a b``     ``wrap``         ``wrap``
``mirror``    ``b a | a b c d | d c``     ``reflect``      ``symmetric``
============  ==========================  ===============  ==============

``constant`` is accepted as a synonym of ``zero``. IBSI 2 filters *convolve* (the kernel
is flipped); all helpers here convolve, so an antisymmetric kernel (Laws ``E5``, wavelet
high-pass) gives the sign the reference maps have.

Images are ``(z, y, x)`` arrays; 2-D filters act on each axial slice, i.e. on axes 1 and
2 only, which the helpers express by the ``axes`` they filter along.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft, ndimage

from radscore.errors import ConfigError

#: IBSI 2 boundary mode -> (scipy.ndimage mode, numpy.pad mode).
BOUNDARY_MODES: dict[str, tuple[str, str]] = {
    "zero": ("constant", "constant"),
    "constant": ("constant", "constant"),
    "nearest": ("nearest", "edge"),
    "periodic": ("wrap", "wrap"),
    "mirror": ("reflect", "symmetric"),
}

#: Axes an IBSI 2 filter acts on: ``"2D"`` per axial slice (y, x), ``"3D"`` all of (z, y, x).
DIMENSION_AXES: dict[str, tuple[int, ...]] = {"2D": (1, 2), "3D": (0, 1, 2)}

# Above this many multiply-adds per voxel a dense kernel is applied by FFT instead of
# directly (ndimage.convolve costs ~1 ns per multiply-add; FFT of a padded 64^3 volume ~10 ms).
_DIRECT_MAX_TAPS = 125


def ndimage_mode(boundary: str) -> str:
    """The ``scipy.ndimage`` mode of an IBSI 2 boundary mode name."""
    return _modes(boundary)[0]


def pad_mode(boundary: str) -> str:
    """The ``numpy.pad`` mode of an IBSI 2 boundary mode name."""
    return _modes(boundary)[1]


def _modes(boundary: str) -> tuple[str, str]:
    try:
        return BOUNDARY_MODES[boundary]
    except KeyError:
        raise ConfigError(
            f"unknown IBSI 2 boundary mode {boundary!r}",
            fix=f"use one of {', '.join(sorted(BOUNDARY_MODES))}",
        ) from None


def filter_axes(dimensions: str) -> tuple[int, ...]:
    """The array axes a ``"2D"`` or ``"3D"`` filter acts on."""
    try:
        return DIMENSION_AXES[dimensions]
    except KeyError:
        raise ConfigError(
            f"unknown IBSI 2 filter dimensions {dimensions!r}", fix="use '2D' (per axial slice) or '3D'"
        ) from None


def dilate_kernel(kernel: np.ndarray, dilation: int) -> np.ndarray:
    """A 1-D kernel with ``dilation - 1`` zeros between its taps (a trous).

    Parameters
    ----------
    kernel : numpy.ndarray
        1-D filter taps.
    dilation : int
        1 for the kernel itself; ``2 ** (level - 1)`` for decomposition level ``level``.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if dilation < 1:
        raise ConfigError(f"kernel dilation must be at least 1, got {dilation}")
    out = np.zeros((k.size - 1) * dilation + 1)
    out[::dilation] = k
    return out


def convolve_1d(
    image: np.ndarray,
    kernel: np.ndarray,
    axis: int,
    boundary: str,
    *,
    dilation: int = 1,
    origin: int = 0,
) -> np.ndarray:
    """Convolve ``image`` along one axis with a (dilated) 1-D kernel.

    Parameters
    ----------
    image : numpy.ndarray
        ``(z, y, x)`` array.
    kernel : numpy.ndarray
        1-D taps; an odd-length kernel is centred on its middle tap.
    axis : int
        Array axis to filter along.
    boundary : str
        IBSI 2 boundary mode (``zero``, ``nearest``, ``periodic``, ``mirror``).
    dilation : int
        Spacing between taps (see :func:`dilate_kernel`).
    origin : int
        ``scipy.ndimage`` origin shift of the kernel centre, for even-length kernels whose
        centre convention a filter family fixes (e.g. wavelets).

    Returns
    -------
    numpy.ndarray
        float64 array of ``image``'s shape.
    """
    k = dilate_kernel(kernel, dilation)
    return ndimage.convolve1d(
        np.asarray(image, dtype=np.float64), k, axis=axis, mode=ndimage_mode(boundary), origin=origin
    )


def convolve_separable(
    image: np.ndarray,
    kernels: Sequence[np.ndarray],
    axes: Sequence[int],
    boundary: str,
    *,
    dilation: int = 1,
) -> np.ndarray:
    """Convolve with an outer-product kernel, one 1-D pass per axis.

    ``kernels[i]`` acts along ``axes[i]``; the passes commute, so their order does not
    matter beyond rounding.
    """
    if len(kernels) != len(axes):
        raise ConfigError(f"{len(kernels)} kernels for {len(axes)} axes", fix="give one 1-D kernel per axis")
    out = np.asarray(image, dtype=np.float64)
    for kernel, axis in zip(kernels, axes):
        out = convolve_1d(out, kernel, axis, boundary, dilation=dilation)
    return out


def convolve_nd(image: np.ndarray, kernel: np.ndarray, boundary: str) -> np.ndarray:
    """Convolve a ``(z, y, x)`` image with a dense kernel of odd size along every axis.

    A 2-D filter passes a kernel of shape ``(1, ky, kx)``. Small kernels go through
    ``ndimage.convolve``; large ones through an FFT of the image padded by the kernel's
    half-width in the boundary mode, which is the same sum (up to float rounding, ~1e-12
    relative). Complex kernels (Gabor) are supported.

    Returns
    -------
    numpy.ndarray
        float64 (or complex128 for a complex kernel) array of ``image``'s shape.
    """
    img = np.asarray(image, dtype=np.float64)
    k = np.asarray(kernel)
    if k.ndim != img.ndim or any(n % 2 == 0 for n in k.shape):
        raise ConfigError(f"kernel of shape {k.shape} for an image of {img.ndim} dimensions",
                          fix="use a kernel with an odd size along every image axis")
    if k.size <= _DIRECT_MAX_TAPS:
        if np.iscomplexobj(k):
            return convolve_nd(img, k.real, boundary) + 1j * convolve_nd(img, k.imag, boundary)
        return ndimage.convolve(img, k.astype(np.float64), mode=ndimage_mode(boundary))
    half = [n // 2 for n in k.shape]
    padded = np.pad(img, [(h, h) for h in half], mode=pad_mode(boundary))
    # Circular convolution of the padded image with the kernel centred on index 0: the
    # wrap-around only reaches the pad, so the inner (original) box is the exact sum.
    # Transform only along the axes the kernel extends over (a 2-D kernel: per slice).
    axes = tuple(a for a, n in enumerate(k.shape) if n > 1)
    embedded = np.zeros(tuple(padded.shape[a] if a in axes else 1 for a in range(k.ndim)), dtype=k.dtype)
    embedded[tuple(slice(0, n) for n in k.shape)] = k
    embedded = np.roll(embedded, [-h for h in half], axis=tuple(range(k.ndim)))
    if np.iscomplexobj(k):
        full = fft.ifftn(fft.fftn(padded, axes=axes) * fft.fftn(embedded, axes=axes), axes=axes)
    else:
        shape = [padded.shape[a] for a in axes]
        full = fft.irfftn(fft.rfftn(padded, axes=axes) * fft.rfftn(embedded, axes=axes), s=shape, axes=axes)
    return full[tuple(slice(h, h + n) for h, n in zip(half, img.shape))]
