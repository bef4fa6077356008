"""Immunoscore from CD3/CD8 densities in tumour centre and invasive margin (PROTOCOL B4).

Each of the four densities (CD3 and CD8, centre ``_ct`` and invasive margin ``_im``) is
"high" when it is at or above the configured percentile (the mCRC seed: "average density
>= 75% is considered high"; Pages et al., Lancet 2018) and the Immunoscore is the number
of high densities, 0-4; 3-4 is the high group. The percentile thresholds are computed on
the **training** patients only and applied unchanged to every patient, so testing
patients do not inform their own thresholds.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.analyses._shared import fmt_p, km_figure
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.report.sections import Section

logger = logging.getLogger(__name__)


def density_thresholds(densities: pd.DataFrame, percentile: float = 75.0) -> pd.Series:
    """Per-column percentile of the densities (NaN ignored; numpy's linear interpolation)."""
    return pd.Series({c: float(np.nanpercentile(densities[c].to_numpy(float), percentile)) for c in densities.columns})


def immunoscore(densities: pd.DataFrame, thresholds: pd.Series) -> pd.Series:
    """Number of densities at or above their threshold (0-4); NaN when any density is missing.

    Parameters
    ----------
    densities : DataFrame
        Cells/mm^2, one column per marker x region.
    thresholds : Series
        Threshold per column (:func:`density_thresholds`).
    """
    d = densities[list(thresholds.index)].to_numpy(float)
    high = d >= thresholds.to_numpy(float)[None, :]
    score = high.sum(axis=1).astype(float)
    score[np.isnan(d).any(axis=1)] = np.nan
    return pd.Series(score, index=densities.index, name="immunoscore")


def immunoscore_group(score, high_min: int = 3) -> np.ndarray:
    """``"high"`` for scores >= ``high_min`` (3 in the seed), ``"low"`` otherwise, ``""`` for NaN."""
    s = np.asarray(score, float)
    return np.where(np.isnan(s), "", np.where(s >= high_min, "high", "low"))


def add_immunoscore(ctx: AnalysisContext, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series] | tuple[None, str]:
    """``df`` with ``immunoscore`` and ``immunoscore_group`` columns, and the thresholds used.

    Returns ``(None, reason)`` when a density column is absent.
    """
    s = ctx.config.analyses.immunoscore
    reason = require_columns(df, s.columns)
    if reason:
        return None, reason
    train = df[df["cohort"] == "training"] if "cohort" in df else df
    if train[s.columns].dropna().empty:
        train = df
    thr = density_thresholds(train[s.columns], s.density_percentile)
    score = immunoscore(df[s.columns], thr)
    return df.assign(immunoscore=score.to_numpy(), immunoscore_group=immunoscore_group(score, s.high_min)), thr


def run(ctx: AnalysisContext) -> list[Section]:
    s = ctx.config.analyses.immunoscore
    key, title = "immunoscore", "Immunoscore (CD3/CD8, centre and invasive margin)"
    df = patient_table(ctx, "baseline")
    df, thr = add_immunoscore(ctx, df)
    if df is None:
        return [Section(key, title, skipped=thr)]
    df = df[df["immunoscore"].notna()]
    tables = {
        "thresholds": thr.rename("threshold").rename_axis("density").reset_index(),
        "distribution": df.groupby("immunoscore").size().rename("n").reset_index(),
        "density_spearman": df[s.columns].corr(method="spearman").rename_axis("density").reset_index(),
    }
    figures = {}
    surv = ctx.config.survival
    for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event)):
        if t and not require_columns(df, [t, e]):
            figures[f"{name}_km"] = km_figure(df[t], df[e], df["immunoscore_group"],
                                              f"{name.upper()} by Immunoscore group")
    rows = []
    for col in s.columns:
        hi = df[col] >= thr[col]
        a, b = df.loc[hi, "radscore"], df.loc[~hi, "radscore"]
        p = sps.mannwhitneyu(a, b).pvalue if len(a) and len(b) else np.nan
        rows.append({"density": col, "n_high": int(hi.sum()), "radscore_median_high": a.median(),
                     "radscore_median_low": b.median(), "mannwhitney_p": p})
    tables["radscore_by_density"] = pd.DataFrame(rows)
    n_train = int((df["cohort"] == "training").sum()) if "cohort" in df else len(df)
    text = (f"Immunoscore = number of {', '.join(s.columns)} at or above their {s.density_percentile:g}th "
            f"percentile (0-4; high = {s.high_min}-4). Thresholds were computed on the {n_train} training "
            f"patients and applied unchanged to all {len(df)} patients. "
            f"{int((df['immunoscore_group'] == 'high').sum())} patients are Immunoscore-high. Radscore differs "
            f"between {s.columns[0]} high/low with Mann-Whitney p = {fmt_p(rows[0]['mannwhitney_p'])}.")
    return [Section(key, title, text=text, tables=tables, figures=figures)]
