"""Shared plumbing of the statistics: input validation and the result base class.

Every statistic takes array-likes, checks them here (lengths, finiteness, both outcome
classes) and raises :class:`radscore.errors.DataError` with the problem and the fix, so a
user never sees a numpy traceback. Results are frozen dataclasses whose ``summary``
property is a one-row (or tidy) DataFrame ready for the report.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from radscore.errors import DataError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Result:
    """Base of all statistic results: immutable, named fields, ``summary`` table."""

    def _scalar_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float, str, bool, np.integer, np.floating)) or value is None:
                out[f.name] = value
        return out

    @property
    def summary(self) -> pd.DataFrame:
        """One-row DataFrame of the scalar fields (tables are left out)."""
        return pd.DataFrame([self._scalar_fields()])

    def to_dict(self) -> dict[str, Any]:
        """Scalar fields as a plain dict (for JSON provenance)."""
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._scalar_fields().items()}


def as_float(x: Any, name: str, n: int | None = None, *, allow_nan: bool = False) -> np.ndarray:
    """Return ``x`` as a 1-D float array, checking length and finiteness."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric ({exc}).", fix=f"Pass numbers for {name}.") from None
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.size == max(arr.shape, default=0) else arr
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {np.shape(x)}.", fix="Pass a single column.")
    if n is not None and arr.shape[0] != n:
        raise DataError(
            f"{name} has {arr.shape[0]} values but the outcome has {n}.",
            fix="Pass one value per patient, in the same order.",
        )
    if not allow_nan and not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise DataError(f"{name} has {bad} missing or infinite values.", fix="Drop or impute those patients first.")
    return arr


def as_binary(y: Any, name: str = "y", *, require_both: bool = True) -> np.ndarray:
    """Return the outcome as an int array of 0/1 (bool, 0/1 numbers accepted)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.size == max(arr.shape, default=0) else arr
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name} must be a non-empty 1-D array of 0/1 outcomes.", fix="Pass one outcome per patient.")
    if arr.dtype == bool:
        out = arr.astype(int)
    else:
        try:
            f = arr.astype(float)
        except (TypeError, ValueError):
            raise DataError(
                f"{name} must be coded 0/1 (or True/False); found values like {arr[:3].tolist()}.",
                fix="Recode the outcome as 1 = event/responder, 0 = otherwise.",
            ) from None
        if not np.all(np.isin(f, (0.0, 1.0))):
            bad = sorted(set(np.unique(f[~np.isin(f, (0.0, 1.0))]).tolist()))[:5]
            raise DataError(
                f"{name} must be coded 0/1; found {bad}.",
                fix="Recode the outcome as 1 = event/responder, 0 = otherwise, and drop missing outcomes.",
            )
        out = f.astype(int)
    if require_both and (out.min() == out.max()):
        raise DataError(
            f"{name} has only one class ({int(out[0])}) among {out.size} patients; the statistic needs both.",
            fix="Check the outcome column or use a cohort with events and non-events.",
        )
    return out


def as_probability(p: Any, name: str, n: int) -> np.ndarray:
    """Return predicted probabilities, checking they lie in [0, 1]."""
    arr = as_float(p, name, n)
    if arr.min() < 0 or arr.max() > 1:
        raise DataError(
            f"{name} must be probabilities in [0, 1]; found range [{arr.min():.4g}, {arr.max():.4g}].",
            fix="Pass predicted probabilities (e.g. predict_proba[:, 1]), not raw scores.",
        )
    return arr


def check_alpha(alpha: float) -> float:
    if not 0 < float(alpha) < 1:
        raise DataError(f"alpha must be in (0, 1), got {alpha}.", fix="Use e.g. alpha=0.05 for 95% intervals.")
    return float(alpha)
