"""ITK's cubic B-spline and nearest-neighbour resampling, computed one axis at a time.

When the output grid's axes are parallel to the input's (the same direction, no
transform: every resampling of ``prepare_patient`` without registration), the continuous
input index of an output voxel splits into one function per axis. A tensor-product
B-spline is then three 1-D passes of 4 taps each instead of 64 taps per output voxel,
and nearest neighbour is one index look-up per axis. On the real whole-body sarcoma PET
(128 x 128 x 267 voxels to 600 x 600 x 874 at 1 mm) ITK's ``ResampleImageFilter`` took
160 s on one thread; these passes take a few seconds.

The arithmetic follows ITK's (``BSplineDecompositionImageFilter``: the cubic pole, mirror
boundaries, its 1e-10 horizon for the causal initialisation, all in double precision;
``BSplineInterpolateImageFunction``: the same weight formulas and mirror boundary;
``IsInsideBuffer``: an output voxel takes the default value unless every continuous
index lies in ``[-0.5, n - 0.5)``; nearest neighbour rounds half up). Only the
summation order differs (nested per axis rather than one sum of 64 products), a
double-precision difference that the cast to float32 hides almost always
(tests/imaging/test_resample.py compares with ITK).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from radscore.runtime.jit import kernel

_POLE = float(np.sqrt(3.0) - 2.0)  # the cubic B-spline's prefilter pole
_TOLERANCE = 1e-10  # ITK's BSplineDecompositionImageFilter default: where the causal sum is cut


def axis_maps(image: sitk.Image, reference: sitk.Image) -> list[np.ndarray] | None:
    """Per (x, y, z) axis, the continuous index in ``image`` of each of ``reference``'s voxels
    along that axis; None when the mapping does not split by axis (rotated grids)."""
    if image.GetDimension() != 3 or reference.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        return None
    d_in = np.asarray(image.GetDirection(), float).reshape(3, 3)
    d_out = np.asarray(reference.GetDirection(), float).reshape(3, 3)
    sp_in, sp_out = np.asarray(image.GetSpacing(), float), np.asarray(reference.GetSpacing(), float)
    to_index = np.linalg.inv(d_in) / sp_in[:, None]  # physical offset -> continuous index
    linear = to_index @ d_out @ np.diag(sp_out)
    offset = to_index @ (np.asarray(reference.GetOrigin(), float) - np.asarray(image.GetOrigin(), float))
    off_diagonal = linear - np.diag(np.diag(linear))
    if np.abs(off_diagonal).max() > 1e-9 * np.abs(np.diag(linear)).max():
        return None
    return [offset[a] + linear[a, a] * np.arange(reference.GetSize()[a], dtype=float) for a in range(3)]


def _mirror(idx: np.ndarray, n: int) -> np.ndarray:
    """ITK's mirror boundary (whole-sample symmetric about 0 and n - 1)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * n - 2
    k = np.abs(idx) % period
    return np.where(k >= n, period - k, k)


def warm_up() -> None:
    """Load (or compile) the prefilter kernel in this process (before forking workers)."""
    _prefilter_axis(np.zeros((2, 4, 2)), 1)


def _prefilter_axis(a: np.ndarray, axis: int) -> None:
    """In place: cubic B-spline coefficients along ``axis`` (ITK's DataToCoefficients1D).

    ``a`` is C-contiguous; it is viewed as (outer, n, inner) with the filtered axis in the
    middle, so the recursions run over contiguous memory on every axis (a numpy loop over
    the x axis steps through strided views, 2.6 s per pass on a chest CT).
    """
    shape = a.shape
    n = shape[axis]
    if n == 1:
        return
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    horizon = int(np.ceil(np.log(_TOLERANCE) / np.log(abs(_POLE))))
    _prefilter_lines(a.reshape(outer, n, inner), _POLE, (1.0 - _POLE) * (1.0 - 1.0 / _POLE), horizon)


@kernel
def _prefilter_lines(a: np.ndarray, z: float, gain: float, horizon: int) -> None:
    """ITK's causal/anticausal cubic recursion along axis 1 of ``a`` (outer, n, inner), in place.

    Every element sees ITK's operations in ITK's order (no reassociation: numba does not
    contract to fused multiply-adds without fastmath).
    """
    n_out, n, n_in = a.shape
    for o in range(n_out):
        for k in range(n):
            for i in range(n_in):
                a[o, k, i] *= gain
        for i in range(n_in):
            zn = z
            if horizon < n:  # ITK's accelerated loop
                s = a[o, 0, i]
                for k in range(1, horizon):
                    s += zn * a[o, k, i]
                    zn *= z
                a[o, 0, i] = s
            else:  # ITK's full loop (mirror boundary, exact)
                iz = 1.0 / z
                z2n = z ** (n - 1)
                s = a[o, 0, i] + z2n * a[o, n - 1, i]
                z2n *= z2n * iz
                for k in range(1, n - 1):
                    s += (zn + z2n) * a[o, k, i]
                    zn *= z
                    z2n *= iz
                a[o, 0, i] = s / (1.0 - zn * zn)
        for k in range(1, n):
            for i in range(n_in):
                a[o, k, i] += z * a[o, k - 1, i]
        for i in range(n_in):
            a[o, n - 1, i] = (z / (z * z - 1.0)) * (z * a[o, n - 2, i] + a[o, n - 1, i])
        for k in range(n - 2, -1, -1):
            for i in range(n_in):
                a[o, k, i] = z * (a[o, k + 1, i] - a[o, k, i])


def _taps(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input indices (m, 4), weights (m, 4) and the inside flags of continuous indices ``x``."""
    inside = (x >= -0.5) & (x < n - 0.5)
    x = np.clip(x, -0.5, n - 0.5)
    first = np.floor(x)
    w = x - first
    w3 = (1.0 / 6.0) * w * w * w
    w0 = (1.0 / 6.0) + 0.5 * w * (w - 1.0) - w3
    w2 = w + w0 - 2.0 * w3
    w1 = 1.0 - w0 - w2 - w3
    idx = first.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :]
    return _mirror(idx, n), np.stack([w0, w1, w2, w3], axis=1), inside


def _apply(a: np.ndarray, axis: int, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    shape = [1] * a.ndim
    shape[axis] = -1
    out = np.take(a, idx[:, 0], axis=axis) * w[:, 0].reshape(shape)
    for k in range(1, 4):
        out += np.take(a, idx[:, k], axis=axis) * w[:, k].reshape(shape)
    return out


def bspline_resample(image: sitk.Image, reference: sitk.Image, default_value: float,
                     maps: list[np.ndarray]) -> sitk.Image:
    """``image`` (float32 or float64) onto ``reference``'s grid by cubic B-spline, as ITK does."""
    dtype = np.dtype(np.float32 if image.GetPixelID() == sitk.sitkFloat32 else np.float64)
    coef = sitk.GetArrayViewFromImage(image).astype(np.float64)  # one copy: a chest CT's is 0.6 GB
    for axis in range(3):
        _prefilter_axis(coef, axis)
    nz, ny, nx = coef.shape
    (ix, wx, in_x), (iy, wy, in_y), (iz, wz, in_z) = (_taps(m, n) for m, n in zip(maps, (nx, ny, nz)))
    out = np.empty((len(iz), len(iy), len(ix)), dtype=dtype)
    # Each input slice is interpolated in x, then y (row gathers) once, when first needed, and
    # dropped after the last output slice that reads it: the z pass then adds four whole
    # slices, and at most a few interpolated slices are held at a time.
    last_use = {int(k): j for j, row in enumerate(iz) for k in row}
    plane: dict[int, np.ndarray] = {}
    acc, term = np.empty(out.shape[1:]), np.empty(out.shape[1:])
    for j, (row, w) in enumerate(zip(iz, wz)):
        for k in map(int, row):
            if k not in plane:
                plane[k] = _apply(_apply(coef[k], 1, ix, wx), 0, iy, wy)
        np.multiply(plane[int(row[0])], w[0], out=acc)
        for t in range(1, 4):
            acc += np.multiply(plane[int(row[t])], w[t], out=term)
        out[j] = acc
        for k in [k for k in plane if last_use[k] <= j]:
            del plane[k]
    del coef  # before the image's copy of ``out`` below
    # a voxel outside the input along any axis takes the default (per axis: no whole-grid mask)
    out[~in_z] = default_value
    out[:, ~in_y] = default_value
    out[:, :, ~in_x] = default_value
    result = sitk.GetImageFromArray(out)
    result.CopyInformation(reference)
    return result


def nearest_resample(image: sitk.Image, reference: sitk.Image, default_value: float,
                     maps: list[np.ndarray]) -> sitk.Image:
    """``image`` onto ``reference``'s grid by nearest neighbour (ITK: round half up)."""
    arr = sitk.GetArrayViewFromImage(image)
    picks = []
    for m, n in zip(maps[::-1], arr.shape):  # array order (z, y, x)
        inside = (m >= -0.5) & (m < n - 0.5)
        picks.append((np.where(inside, np.floor(m + 0.5), 0).astype(np.int64), inside))
    out = np.full(tuple(len(p) for p, _ in picks), default_value, dtype=arr.dtype)
    sel = [np.flatnonzero(inside) for _, inside in picks]
    if all(s.size for s in sel):
        # a mask is mostly background: fill the box of output voxels the non-zero input box maps to
        nonzero = np.nonzero(arr) if default_value == 0 else None
        if nonzero is not None and nonzero[0].size == 0:
            sel = []
        elif nonzero is not None:
            sel = [s[(p[s] >= v.min()) & (p[s] <= v.max())] for s, (p, _), v in zip(sel, picks, nonzero)]
        if sel and all(s.size for s in sel):
            out[np.ix_(*sel)] = arr[np.ix_(*(p[s] for s, (p, _) in zip(sel, picks)))]
    result = sitk.GetImageFromArray(out)
    result.CopyInformation(reference)
    return result
