"""One row per patient from tables with a row per scan (time point and lesion).

Features, scores and the manifest hold one row per ``patient_id, timepoint, lesion_id``;
the Radscore models, the ICC and the patient-level analyses need one row per patient.
:func:`patient_rows` is the one place that choice is made.
"""

from __future__ import annotations

import pandas as pd

from radscore.errors import DataError

LESION_RULES = ("primary", "max", "mean")


def patient_rows(rows: pd.DataFrame, *, rule: str = "primary", by: tuple[str, ...] = (),
                 timepoint: str | None = "baseline") -> pd.DataFrame:
    """One row per patient (and per value of the ``by`` columns, e.g. ``model``).

    Parameters
    ----------
    rows : DataFrame
        With ``patient_id`` and, when present, ``timepoint``, ``lesion_id``, ``site``
        (and ``radscore`` for the ``max`` and ``mean`` rules).
    rule : {"primary", "max", "mean"}
        ``primary``: the lesion whose ``site`` is ``primary``, else the lowest ``lesion_id``
        (the seed's Radscore is the primary tumour's, Supplementary Results 1); ``max``: the
        lesion with the highest Radscore (the most positive-class-like); ``mean``: the
        primary rule's row with ``radscore`` and ``probability`` averaged over lesions.
    by : tuple of str
        Further key columns kept apart (one row per patient and value).
    timepoint : str or None
        Keep only rows of this time point (None: the table is already one time point).

    Returns
    -------
    DataFrame
        Sorted by ``by`` then ``patient_id``, index reset.
    """
    if rule not in LESION_RULES:
        raise DataError(f"unknown patient-level lesion rule '{rule}'.", fix=f"use one of {', '.join(LESION_RULES)}.")
    if timepoint is not None and "timepoint" in rows.columns:
        rows = rows[rows["timepoint"].astype(str) == timepoint]
    keys = [*by, "patient_id"]
    if rows.empty:
        return rows.reset_index(drop=True)
    if rule != "primary" and "radscore" not in rows.columns:
        raise DataError(f"the '{rule}' lesion rule needs a radscore column.", fix="use the primary rule for features.")
    lesion = rows["lesion_id"].astype(str) if "lesion_id" in rows.columns else pd.Series("1", index=rows.index)
    site = rows["site"].astype(str) if "site" in rows.columns else pd.Series("", index=rows.index)
    order = rows.assign(_not_primary=(site != "primary").astype(int), _lesion=lesion)
    sort = [*keys, "_not_primary", "_lesion"]
    ascending = [True] * len(sort)
    if rule == "max":
        sort, ascending = [*keys, "radscore", "_lesion"], [True] * len(keys) + [False, True]
    order = order.sort_values(sort, ascending=ascending, kind="mergesort")
    out = order.drop_duplicates(keys)
    if rule == "mean":
        means = order.groupby(keys, sort=False)[[c for c in ("radscore", "probability") if c in order]].mean()
        out = out.set_index(keys)
        out[means.columns] = means
        out = out.reset_index()
    out = out.drop(columns=["_not_primary", "_lesion"]).sort_values(keys, kind="mergesort")
    return out.reset_index(drop=True)
