"""Immunoscore from CD3/CD8 densities in tumour centre and invasive margin (PROTOCOL B4).

Each of the four densities (CD3 and CD8, centre ``_ct`` and invasive margin ``_im``) is
"high" when it is at or above the configured percentile (the mCRC seed: "average density
>= 75% is considered high"; Pages et al., Lancet 2018) and the Immunoscore is the number
of high densities, 0-4; 3-4 is the high group. The percentile thresholds are computed on
the **training** patients only and applied unchanged to every patient, so testing
patients do not inform their own thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.analyses._shared import KmCurves, fmt_p
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.config import ImmunoscoreSettings
from radscore.errors import DataError
from radscore.report.sections import Section

KEY, TITLE = "immunoscore", "Immunoscore (CD3/CD8, centre and invasive margin)"
SECTIONS = ((KEY, TITLE),)


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


def add_immunoscore(df: pd.DataFrame, settings: ImmunoscoreSettings) -> tuple[pd.DataFrame, pd.Series]:
    """``df`` with ``immunoscore`` and ``immunoscore_group`` columns, and the thresholds used.

    Thresholds come from the training patients (all patients when none has the densities).
    Raises DataError naming absent density columns.
    """
    reason = require_columns(df, settings.columns)
    if reason:
        raise DataError(reason)
    train = df[df["cohort"] == "training"] if "cohort" in df else df
    if train[settings.columns].dropna().empty:
        train = df
    thr = density_thresholds(train[settings.columns], settings.density_percentile)
    score = immunoscore(df[settings.columns], thr)
    return df.assign(immunoscore=score.to_numpy(), immunoscore_group=immunoscore_group(score, settings.high_min)), thr


@dataclass(frozen=True)
class ImmunoscoreResult:
    """Immunoscore thresholds, distribution and survival, and the Radscore by density.

    Attributes
    ----------
    thresholds, distribution, density_spearman, radscore_by_density : DataFrame
    km : dict of str to KmCurves
        ``os_km``/``pfs_km`` by Immunoscore group, where the survival columns exist.
    settings : ImmunoscoreSettings
    n_train, n_patients, n_high : int
    """

    thresholds: pd.DataFrame
    distribution: pd.DataFrame
    density_spearman: pd.DataFrame
    radscore_by_density: pd.DataFrame
    km: dict[str, KmCurves]
    settings: ImmunoscoreSettings
    n_train: int
    n_patients: int
    n_high: int

    def sections(self) -> list[Section]:
        s = self.settings
        text = (f"Immunoscore = number of {', '.join(s.columns)} at or above their {s.density_percentile:g}th "
                f"percentile (0-4; high = {s.high_min}-4). Thresholds were computed on the {self.n_train} training "
                f"patients and applied unchanged to all {self.n_patients} patients. {self.n_high} patients are "
                f"Immunoscore-high. Radscore differs between {s.columns[0]} high/low with Mann-Whitney p = "
                f"{fmt_p(self.radscore_by_density['mannwhitney_p'].iloc[0])}.")
        tables = {"thresholds": self.thresholds, "distribution": self.distribution,
                  "density_spearman": self.density_spearman, "radscore_by_density": self.radscore_by_density}
        return [Section(KEY, TITLE, text=text, tables=tables, figures={k: v.figure() for k, v in self.km.items()})]


def compute(ctx: AnalysisContext) -> ImmunoscoreResult:
    """The Immunoscore of every baseline patient; DataError naming absent density columns."""
    s, surv = ctx.settings.immunoscore, ctx.survival
    df, thr = add_immunoscore(patient_table(ctx, "baseline"), s)
    df = df[df["immunoscore"].notna()]
    km = {f"{name}_km": KmCurves.of(df[t], df[e], df["immunoscore_group"], f"{name.upper()} by Immunoscore group")
          for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event))
          if t and not require_columns(df, [t, e])}
    rows = []
    for col in s.columns:
        hi = df[col] >= thr[col]
        a, b = df.loc[hi, "radscore"], df.loc[~hi, "radscore"]
        rows.append({"density": col, "n_high": int(hi.sum()), "radscore_median_high": a.median(),
                     "radscore_median_low": b.median(),
                     "mannwhitney_p": sps.mannwhitneyu(a, b).pvalue if len(a) and len(b) else np.nan})
    return ImmunoscoreResult(
        thresholds=thr.rename("threshold").rename_axis("density").reset_index(),
        distribution=df.groupby("immunoscore").size().rename("n").reset_index(),
        density_spearman=df[s.columns].corr(method="spearman").rename_axis("density").reset_index(),
        radscore_by_density=pd.DataFrame(rows), km=km, settings=s,
        n_train=int((df["cohort"] == "training").sum()) if "cohort" in df else len(df),
        n_patients=len(df), n_high=int((df["immunoscore_group"] == "high").sum()))
