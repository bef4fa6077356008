"""Validation of survival inputs (time, event, optional groups)."""

from __future__ import annotations

from typing import Any

import numpy as np

from radscore.errors import DataError
from radscore.stats._base import as_binary, as_float


def check_survival(time: Any, event: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return (time float array >= 0, event 0/1 int array) of equal length."""
    t = as_float(time, "time")
    e = as_binary(event, "event", require_both=False)
    if e.size != t.size:
        raise DataError(
            f"event has {e.size} values but time has {t.size}.", fix="Pass one time and one event per patient."
        )
    if t.min() < 0:
        raise DataError("time has negative values.", fix="Times must be follow-up durations >= 0.")
    if e.sum() == 0:
        raise DataError(
            f"no events among {e.size} patients; survival statistics need at least one.",
            fix="Check the event column (1 = event, 0 = censored).",
        )
    return t, e


def check_groups(groups: Any, n: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != n:
        raise DataError(f"groups has {g.size} values but time has {n}.", fix="Pass one group label per patient.")
    if g.dtype.kind in "fc" and np.isnan(g.astype(float)).any():
        raise DataError("groups has missing values.", fix="Drop patients without a group first.")
    if g.dtype == object and any(v is None for v in g):
        raise DataError("groups has missing values.", fix="Drop patients without a group first.")
    return g
