"""One table from IBSI 2 filter family names to their functions.

Every family function has the signature
``f(image, spacing, *, boundary, dimensions, **params) -> float64 array of image's shape``:
``image`` is ``(z, y, x)``, ``spacing`` ``(z, y, x)`` in mm, ``boundary`` an IBSI 2 boundary
mode (:data:`.convolution.BOUNDARY_MODES`), ``dimensions`` ``"2D"`` (per axial slice) or
``"3D"``; ``params`` are the family's own keyword arguments. Families register here and
nowhere else, so settings, ``radscore extract`` and the tests reach every filter the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from radscore.errors import ConfigError

FilterFunction = Callable[..., np.ndarray]

#: family name -> function. Filled by :func:`_families` on first use (imports stay lazy).
_FAMILIES: dict[str, FilterFunction] = {}


def _families() -> dict[str, FilterFunction]:
    if not _FAMILIES:
        from radscore.features.ibsi2.gabor import gabor_filter
        from radscore.features.ibsi2.laws import laws_filter
        from radscore.features.ibsi2.log import log_filter
        from radscore.features.ibsi2.mean import mean_filter
        from radscore.features.ibsi2.riesz import riesz
        from radscore.features.ibsi2.simoncelli import simoncelli
        from radscore.features.ibsi2.wavelet import separable_wavelet

        _FAMILIES.update({"mean": mean_filter, "log": log_filter, "laws": laws_filter, "gabor": gabor_filter,
                          "wavelet": separable_wavelet, "simoncelli": simoncelli, "riesz": riesz})
    return _FAMILIES


def filter_names() -> tuple[str, ...]:
    """The IBSI 2 filter families available, sorted."""
    return tuple(sorted(_families()))


def apply_filter(
    family: str,
    image: np.ndarray,
    spacing: Sequence[float],
    *,
    boundary: str,
    dimensions: str,
    params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Filter ``image`` with the IBSI 2 filter ``family`` and its ``params``."""
    families = _families()
    if family not in families:
        raise ConfigError(f"unknown IBSI 2 filter {family!r}", fix=f"use one of {', '.join(filter_names())}")
    function = families[family]
    given = dict(params or {})
    accepted = [p for p in inspect.signature(function).parameters
                if p not in ("image", "spacing", "boundary", "dimensions")]
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} of the IBSI 2 {family} filter",
                          fix=f"use: boundary, dimensions, {', '.join(accepted)}")
    try:
        return function(image, spacing, boundary=boundary, dimensions=dimensions, **given)
    except TypeError as exc:  # a required parameter is missing
        raise ConfigError(f"IBSI 2 {family} filter: {exc}", fix=f"give: {', '.join(accepted)}") from None


def filter_reach(family: str, params: Mapping[str, Any], spacing: Sequence[float]) -> tuple[int, int, int] | None:
    """Voxels per (z, y, x) axis beyond which a filter's response cannot see, or None (global filter).

    Filtering a box padded by this reach gives the box's whole-image response exactly, so the
    extraction filters only the VOIs' box (as :mod:`radscore.features.filters` does).
    """
    p = dict(params)
    if p.get("boundary", "mirror") == "periodic":  # wraps the image's far edge into the near one
        return None
    dims = str(p.get("dimensions", "3D"))
    if family == "mean":
        reach = [int(p.get("support", 1)) // 2] * 3
    elif family == "log":
        # scipy's Gaussian radius int(truncate * sigma + 0.5), per axis
        reach = [int(float(p.get("truncate", 4.0)) * float(p["sigma_mm"]) / s + 0.5) for s in spacing]
    elif family == "laws":
        reach = [2 + int(p.get("energy_delta") or 0)] * 3
    elif family == "gabor":
        longer = float(p.get("truncate", 4.0)) * max(float(p["sigma_mm"]), float(p["sigma_mm"]) / float(p["gamma"]))
        reach = [int(np.floor(longer / s + 0.5)) for s in spacing]
    elif family == "wavelet":
        # level j convolves with n taps dilated by 2**(j-1) (span (n-1) 2**(j-1) voxels) after the
        # levels before it; the centre lies inside each span, so the spans' sum bounds either side,
        # in every orientation of the rotation-invariant variant.
        from radscore.features.ibsi2.wavelet import wavelet_filters

        taps = len(wavelet_filters(str(p["wavelet"]))[0])
        reach = [(taps - 1) * (2 ** int(p.get("level", 1)) - 1)] * 3
    else:  # Fourier-domain filters (Simoncelli, Riesz): every voxel sees the whole image
        return None
    if dims == "2D":
        reach[0] = 0
    return (reach[0], reach[1], reach[2])
