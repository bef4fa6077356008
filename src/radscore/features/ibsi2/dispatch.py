"""One table from IBSI 2 filter family names to their functions.

Every family function has the signature
``f(image, spacing, *, boundary, dimensions, **params) -> float64 array of image's shape``:
``image`` is ``(z, y, x)``, ``spacing`` ``(z, y, x)`` in mm, ``boundary`` an IBSI 2 boundary
mode (:data:`.convolution.BOUNDARY_MODES`), ``dimensions`` ``"2D"`` (per axial slice) or
``"3D"``; ``params`` are the family's own keyword arguments. Families register here and
nowhere else, so settings, ``radscore extract`` and the tests reach every filter the same way.
"""

from __future__ import annotations

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

        _FAMILIES.update({"mean": mean_filter, "log": log_filter, "laws": laws_filter, "gabor": gabor_filter})
        # wavelet, Simoncelli and Riesz families register below
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
    return families[family](image, spacing, boundary=boundary, dimensions=dimensions, **dict(params or {}))
