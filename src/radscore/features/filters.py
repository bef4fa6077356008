"""PyRadiomics' image filters, each computed once per image on a padded crop, exactly.

PyRadiomics filters the whole volume again for every VOI. Here each filter runs once per
image on the union bounding box of all VOIs, padded by the filter's reach, and returns the
filtered values on that box. Exactness rests on three facts, each checked against
PyRadiomics in ``tests/features/test_filters.py``:

- square / square root / logarithm / exponential are point-wise but rescale by the
  *whole image's* ``max(|x|)``: that statistic is taken from the whole image, the
  point-wise part applied to the box;
- gradient (central differences) and the wavelet (stationary, periodic, filter length
  ``L``) only see a finite neighbourhood: a pad of 2 voxels, resp. ``L`` voxels, is exact
  unless the pad reaches the image edge, where the box simply extends to the edge (the
  wavelet then runs on the full axis, as PyRadiomics does, including its wrap padding);
- the recursive (IIR) LoG and the cubic-spline prefilter of LBP-3D have infinite but
  exponentially decaying support; pads of 22 sigma (:mod:`.log_filter`, which also runs
  only the 1-D passes the box needs) and ``LBP_PAD`` voxels give the whole-image values
  (LoG bit for bit in float32 on the benchmark patients, tested).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import numpy as np
import pywt
import SimpleITK as sitk

from radscore.features.lbp3d import lbp3d
from radscore.features.log_filter import PAD_SIGMAS, log_on_box

log = logging.getLogger(__name__)

#: Cubic-spline prefilter pole is 0.268; 0.268**24 ~ 2e-14.
LBP_PAD = 24

Box = tuple[slice, slice, slice]


def bounding_box(mask: np.ndarray) -> Box:
    """Smallest (z, y, x) box holding every true voxel."""
    idx = [np.nonzero(np.any(mask, axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    return tuple(slice(int(i[0]), int(i[-1]) + 1) for i in idx)  # type: ignore[return-value]


def _pad_box(box: Box, pad: tuple[int, int, int], shape: tuple[int, ...]) -> Box:
    return tuple(slice(max(0, s.start - p), min(n, s.stop + p)) for s, p, n in zip(box, pad, shape))  # type: ignore


def _inner(box: Box, outer: Box) -> Box:
    """``box`` in the coordinates of the array cut out by ``outer``."""
    return tuple(slice(b.start - o.start, b.stop - o.start) for b, o in zip(box, outer))  # type: ignore


def _sitk_crop(image: sitk.Image, box: Box) -> sitk.Image:
    z, y, x = box
    return image[x.start:x.stop, y.start:y.stop, z.start:z.stop]


#: Pixel types whose every value float32 holds exactly (ITK's LoG reads them as double: same numbers).
_EXACT_IN_FLOAT32 = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16))


def _log_images(image: sitk.Image, box: Box, sigmas: list[float]) -> Iterator[tuple[str, np.ndarray]]:
    size = np.array(image.GetSize())
    spacing = np.array(image.GetSpacing())
    if np.min(size) < 4:
        log.warning("image too small for LoG (size %s); LoG skipped as in PyRadiomics", size)
        return
    shape = tuple(int(s) for s in size[::-1])
    whole = sitk.GetArrayViewFromImage(image)
    for sigma in sigmas:
        # PyRadiomics' own applicability rule, on the whole image
        if not (sigma > 0 and np.all(size >= np.ceil(sigma / spacing) + 1)):
            log.warning("LoG sigma %g not applicable to image size %s; skipped as in PyRadiomics", sigma, size)
            continue
        if whole.dtype == np.float32:  # ITK reads float32 input as is: the per-pass version is exact
            values = log_on_box(whole, tuple(spacing), sigma, box)
        elif whole.dtype in _EXACT_IN_FLOAT32:  # CT in int16: float32 holds every value, as ITK's double does
            values = log_on_box(whole.astype(np.float32), tuple(spacing), sigma, box)
        else:  # float64, 32-bit integers: ITK's filter itself on the padded box
            pad = tuple(int(np.ceil(PAD_SIGMAS * sigma / sp)) + 2 for sp in spacing[::-1])  # see .log_filter
            outer = _pad_box(box, pad, shape)  # type: ignore[arg-type]
            f = sitk.LaplacianRecursiveGaussianImageFilter()
            f.SetNormalizeAcrossScale(True)
            f.SetSigma(sigma)
            out = f.Execute(_sitk_crop(image, outer))  # keep a reference: the view does not
            values = np.array(sitk.GetArrayViewFromImage(out)[_inner(box, outer)])
        yield f"log-sigma-{str(sigma).replace('.', '-')}-mm-3D", values


def _wavelet_images(arr: np.ndarray, box: Box, kwargs: dict[str, Any]) -> Iterator[tuple[str, np.ndarray]]:
    wavelet = pywt.Wavelet(kwargs.get("wavelet", "coif1"))
    level = int(kwargs.get("level", 1))
    start = int(kwargs.get("start_level", 0))
    reach = (wavelet.dec_len + 1) * 2 ** (start + level)
    shape = arr.shape
    outer = []
    for s, n in zip(box, shape):
        lo, hi = s.start - reach, s.stop + reach
        if lo < 0 or hi > n:  # near the edge the periodic wrap matters: use the full axis as PyRadiomics
            outer.append(slice(0, n))
        else:
            outer.append(slice(lo, hi))
    outer_t = tuple(outer)
    data = np.asarray(arr[outer_t])
    full = [o.start == 0 and o.stop == n for o, n in zip(outer_t, shape)]
    # PyRadiomics pads odd axes by wrapping one slice; on an interior crop that slice is
    # beyond the reach of the ROI, so the same padding is exact for both cases.
    padding = tuple((0, 1 if d % 2 else 0) for d in data.shape)
    data = np.pad(data, padding, "wrap")
    axes = (2, 1, 0)
    for _ in range(start):
        data = pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]["aaa"].copy()
    inner = _inner(box, outer_t)
    del full
    for i in range(start, start + level):
        dec = pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]
        data = dec["aaa"].copy()
        idx = i - start + 1
        for name, band in dec.items():
            if name == "aaa":
                continue
            label = name.replace("a", "L").replace("d", "H")
            key = f"wavelet-{label}" if idx == 1 else f"wavelet{idx}-{label}"
            yield key, np.array(band[inner])
    yield ("wavelet-LLL" if level == 1 else f"wavelet{level}-LLL"), np.array(data[inner])


def filtered_images(
    image: sitk.Image,
    box: Box,
    image_types: dict[str, dict[str, Any]],
    roi: np.ndarray,
    settings: dict[str, Any] | None = None,
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(pyradiomics_image_type_name, values on box)`` for every enabled filter.

    Parameters
    ----------
    image : SimpleITK.Image
        The whole image.
    box : tuple of slices
        Union bounding box of the VOIs (z, y, x).
    image_types : dict
        PyRadiomics ``imageType`` section in canonical spelling.
    roi : ndarray of bool
        Union of the VOIs on the whole grid (LBP-3D is computed only there).
    settings : dict, optional
        Global PyRadiomics settings (e.g. ``gradientUseSpacing``, ``lbp3DLevels``) under the
        per-type custom settings.
    """
    whole = sitk.GetArrayViewFromImage(image)
    shape = whole.shape
    base = dict(settings or {})
    for itype, custom in image_types.items():
        kw = {**base, **(custom or {})}
        if itype == "Original":
            yield "original", np.array(whole[box])
        elif itype in ("Square", "SquareRoot", "Logarithm", "Exponential"):
            yield _pointwise(itype, whole, box)
        elif itype == "Gradient":
            outer = _pad_box(box, (2, 2, 2), shape)
            f = sitk.GradientMagnitudeImageFilter()
            f.SetUseImageSpacing(kw.get("gradientUseSpacing", True))
            grad = f.Execute(_sitk_crop(image, outer))  # keep a reference: the view does not
            yield "gradient", np.array(sitk.GetArrayViewFromImage(grad)[_inner(box, outer)])
        elif itype == "LoG":
            yield from _log_images(image, box, list(kw.get("sigma", [])))
        elif itype == "Wavelet":
            yield from _wavelet_images(whole, box, kw)
        elif itype == "LBP3D":
            outer = _pad_box(box, (LBP_PAD,) * 3, shape)  # type: ignore[arg-type]
            sub_roi = np.zeros(whole[outer].shape, bool)
            sub_roi[_inner(box, outer)] = roi[box]
            res = lbp3d(
                whole[outer], sub_roi, levels=int(kw.get("lbp3DLevels", 2)),
                radius=float(kw.get("lbp3DIcosphereRadius", 1)),
                subdivisions=int(kw.get("lbp3DIcosphereSubdivision", 1)),
            )
            for name, arr in res.items():
                yield name, arr[_inner(box, outer)]
        elif itype.startswith("ibsi2-"):
            yield itype, _ibsi2_image(whole, tuple(image.GetSpacing()[::-1]), box, itype, custom or {})
        else:
            raise ValueError(f"image type {itype} has no fast implementation")


def _ibsi2_image(whole: np.ndarray, spacing: tuple[float, ...], box: Box, itype: str,
                 custom: dict[str, Any]) -> np.ndarray:
    """An IBSI 2 filter (``ibsi2-<family>``) on the box, via a crop padded by the filter's reach.

    Where the pad reaches the image edge the crop stops there, so the boundary mode acts
    at the image's own edge, as on the whole image; a filter without a finite reach runs on
    the whole image.
    """
    from radscore.features.ibsi2.dispatch import apply_filter, filter_reach

    family = itype[len("ibsi2-"):]
    params = {k: v for k, v in custom.items() if k not in ("boundary", "dimensions")}
    boundary, dimensions = str(custom.get("boundary", "mirror")), str(custom.get("dimensions", "3D"))
    reach = filter_reach(family, custom, spacing)
    outer = tuple(slice(0, n) for n in whole.shape) if reach is None else _pad_box(box, reach, whole.shape)
    response = apply_filter(family, np.asarray(whole[outer], dtype=np.float64), spacing, boundary=boundary,
                            dimensions=dimensions, params=params)
    return np.array(response[_inner(box, outer)])  # type: ignore[arg-type]


def _pointwise(itype: str, whole: np.ndarray, box: Box) -> tuple[str, np.ndarray]:
    """PyRadiomics' square/squareroot/logarithm/exponential, whole-image rescale (its formulas)."""
    im_max = float(np.max(np.abs(whole)))
    im = np.array(whole[box], dtype="float64")
    if itype == "Square":
        coeff = 1 / np.sqrt(np.float64(im_max))
        return "square", (coeff * im) ** 2
    if itype == "SquareRoot":
        pos, neg = im > 0, im < 0
        im[pos] = np.sqrt(im[pos] * im_max)
        im[neg] = -np.sqrt(-im[neg] * im_max)
        return "squareroot", im
    if itype == "Logarithm":
        # max |log-transformed| of the whole image is log(max|x| + 1), by monotonicity
        log_max = np.log(np.float64(im_max) + 1)
        pos, neg = im > 0, im < 0
        im[pos] = np.log(im[pos] + 1)
        im[neg] = -np.log(-(im[neg] - 1))
        return "logarithm", im * (np.float64(im_max) / log_max)
    coeff = np.log(np.float64(im_max)) / np.float64(im_max)
    return "exponential", np.exp(coeff * im)
