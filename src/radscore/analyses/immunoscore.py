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
from radscore.catalog import MODEL_TITLES
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


def marker_groups(df: pd.DataFrame, columns: list[str], train: pd.Series, percentile: float) -> pd.DataFrame:
    """Per marker (the column-name part before the last ``_``: ``cd3_ct``, ``cd3_im`` -> ``cd3``):
    ``high``/``low`` by the mean of its region densities against that mean's ``percentile`` in
    the training rows (``train``, boolean); ``""`` where a density is missing.

    The seed compares the Rad-Score between CD3-high and CD3-low (and CD8) patients and draws
    the CD3 x CD8 four-group Kaplan-Meier curves; a marker is high here as a density is for the
    Immunoscore (same percentile, training patients only).
    """
    markers: dict[str, list[str]] = {}
    for c in columns:
        markers.setdefault(c.rsplit("_", 1)[0], []).append(c)
    out = {}
    for marker, cols in markers.items():
        mean = df[cols].to_numpy(float).mean(axis=1)
        ref = mean[train.to_numpy(bool) & np.isfinite(mean)]
        thr = float(np.percentile(ref if ref.size else mean[np.isfinite(mean)], percentile))
        out[marker] = np.where(np.isnan(mean), "", np.where(mean >= thr, "high", "low"))
    return pd.DataFrame(out, index=df.index)


def _rank_test(score: pd.Series, groups: pd.Series) -> dict:
    """Medians by group and the Mann-Whitney (2 groups) or Kruskal-Wallis p of ``score``."""
    ok = score.notna() & (groups.astype(str) != "")
    data = {str(g): score[ok & (groups == g)].to_numpy(float) for g in sorted(groups[ok].unique(), key=str)}
    row = {f"median_{g}": float(np.median(v)) for g, v in data.items()}
    row.update({f"n_{g}": int(v.size) for g, v in data.items()})
    if len(data) == 2:
        row["test"], row["p_value"] = "Mann-Whitney", float(sps.mannwhitneyu(*data.values()).pvalue)
    elif len(data) > 2:
        row["test"], row["p_value"] = "Kruskal-Wallis", float(sps.kruskal(*data.values()).pvalue)
    return row


def score_by_group_figure(score: pd.Series, groups: pd.Series, xlabel: str, ylabel: str):
    """Box plot of the Radscore by a grouping with its rank-test p (``plot_score_by_group``)."""
    from radscore.analyses._shared import new_figure
    from radscore.report.figures import plot_score_by_group

    ok = score.notna() & (groups.astype(str) != "")
    fig, ax = new_figure((4.2, 4.2))
    plot_score_by_group(score[ok].to_numpy(float), groups[ok].astype(str).to_numpy(), ax=ax, xlabel=xlabel,
                        ylabel=ylabel)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class ImmunoscoreResult:
    """Immunoscore thresholds, distribution and survival, and the Radscore by density.

    Attributes
    ----------
    thresholds, distribution, density_spearman, radscore_by_density : DataFrame
    radscore_by_group : DataFrame
        The Radscore by Immunoscore group, by Immunoscore 0-4 and by marker (CD3, CD8) group:
        medians and rank-test p.
    km : dict of str to KmCurves
        ``os_km``/``pfs_km`` by Immunoscore group, and ``os_km_markers``/``pfs_km_markers`` by the
        four CD3 x CD8 groups, where the survival columns exist.
    groups : DataFrame
        ``radscore``, ``immunoscore``, ``immunoscore_group`` and the marker groups per patient
        (for the box plots).
    radscore_title : str
        The Radscore's name in figures (e.g. "TME Rad-Score").
    settings : ImmunoscoreSettings
    n_train, n_patients, n_high : int
    """

    thresholds: pd.DataFrame
    distribution: pd.DataFrame
    density_spearman: pd.DataFrame
    radscore_by_density: pd.DataFrame
    radscore_by_group: pd.DataFrame
    km: dict[str, KmCurves]
    groups: pd.DataFrame
    radscore_title: str
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
                  "density_spearman": self.density_spearman, "radscore_by_density": self.radscore_by_density,
                  "radscore_by_group": self.radscore_by_group}
        figures = {k: v.figure() for k, v in self.km.items()}
        g = self.groups
        for col, label in (("immunoscore_group", "Immunoscore group"), ("immunoscore", "Immunoscore"),
                           *((c, f"{c.removeprefix('marker_').upper()} density group")
                             for c in g.columns if c.startswith("marker_"))):
            groups = g[col].map(lambda v: f"{v:g}" if isinstance(v, float) else v).fillna("")
            if groups.replace("", np.nan).dropna().nunique() >= 2:
                figures[f"radscore_by_{col}"] = score_by_group_figure(g["radscore"], groups, label,
                                                                      self.radscore_title)
        text += (" The marker groups (CD3, CD8: mean of centre and margin density against its training percentile) "
                 "give the CD3 x CD8 four-group survival curves.")
        return [Section(KEY, TITLE, text=text, tables=tables, figures=figures)]


def compute(ctx: AnalysisContext) -> ImmunoscoreResult:
    """The Immunoscore of every baseline patient; DataError naming absent density columns."""
    s, surv = ctx.settings.immunoscore, ctx.survival
    df, thr = add_immunoscore(patient_table(ctx, "baseline"), s)
    df = df[df["immunoscore"].notna()]
    km = {f"{name}_km": KmCurves.of(df[t], df[e], df["immunoscore_group"], f"{name.upper()} by Immunoscore group")
          for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event))
          if t and not require_columns(df, [t, e])}
    train = (df["cohort"] == "training") if "cohort" in df else pd.Series(True, index=df.index)
    markers = marker_groups(df, list(s.columns), train, s.density_percentile)
    if markers.shape[1] == 2:  # the four CD3 x CD8 groups (seed: "CD3 x CD8 four-group KM")
        a, b = markers.columns
        four = np.where((markers[a] == "") | (markers[b] == ""), "",
                        a.upper() + "-" + markers[a] + " / " + b.upper() + "-" + markers[b])
        km.update({f"{name}_km_markers": KmCurves.of(df[t], df[e], four, f"{name.upper()} by {a.upper()} x "
                                                                          f"{b.upper()} density group")
                   for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event))
                   if t and not require_columns(df, [t, e])})
    groups = pd.DataFrame({"radscore": df["radscore"], "immunoscore": df["immunoscore"],
                           "immunoscore_group": df["immunoscore_group"],
                           **{f"marker_{m}": markers[m] for m in markers.columns}})
    by_group = [{"grouping": label, **_rank_test(df["radscore"], grp)} for label, grp in
                (("Immunoscore group", df["immunoscore_group"]), ("Immunoscore 0-4", df["immunoscore"].astype(int)),
                 *((f"{m.upper()} density group", markers[m]) for m in markers.columns))]
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
        radscore_by_density=pd.DataFrame(rows), radscore_by_group=pd.DataFrame(by_group), km=km, groups=groups,
        radscore_title=MODEL_TITLES.get(ctx.settings.model, "Radscore"), settings=s,
        n_train=int((df["cohort"] == "training").sum()) if "cohort" in df else len(df),
        n_patients=len(df), n_high=int((df["immunoscore_group"] == "high").sum()))
