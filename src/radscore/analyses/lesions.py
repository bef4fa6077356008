"""Lesion sites and treatment arms (PROTOCOL A14; NSCLC seed Supplementary Results 1-2).

Per-lesion Radscores (every baseline lesion scored with the same model) are summarised
and their AUC for the patient's endpoint computed by site. The patient-level Radscore
used elsewhere follows ``analyses.lesions.patient_rule`` (the primary lesion by default).
With a treatment column, PFS is compared between arms within each Radscore group (KM,
log-rank) and the group x treatment interaction is tested in a Cox model with both main
effects and their product (Wald test of the product term).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from radscore.analyses._shared import KmCurves, Skipped, attempt, auc_row, fmt_p, logrank_p, roc_figure
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.errors import DataError
from radscore.report.sections import Section
from radscore.stats import CoxResult, cox_multivariate

SITES = ("lesion_sites", "Radscore by lesion site")
ARMS = ("treatment_arms", "PFS by treatment arm within Radscore groups")
SECTIONS = (SITES, ARMS)


def site_discrimination(lesions: pd.DataFrame, y_col: str) -> pd.DataFrame:
    """Per site: lesions, median Radscore and AUC (DeLong CI) of the lesion's Radscore for ``y_col``."""
    rows = []
    for site, sub in lesions.groupby("site", sort=True):
        row = auc_row(sub[y_col], sub["radscore"], str(site))
        row["median_radscore"] = float(sub["radscore"].median())
        rows.append(row)
    return pd.DataFrame(rows).rename(columns={"analysis": "site"})


def interaction_cox(df: pd.DataFrame, time: str, event: str, group: str, treatment: str) -> CoxResult:
    """Cox model ``group_high + treatment + group_high:treatment``.

    Both factors are coded 0/1 (group high = 1; treatment = 1 for the second sorted level).
    """
    levels = sorted(df[treatment].dropna().astype(str).unique())
    arm = f"treatment_{levels[-1]}"
    d = pd.DataFrame({
        time: df[time].to_numpy(float), event: df[event].to_numpy(int),
        "radscore_high": (df[group].astype(str) == "high").astype(float).to_numpy(),
        arm: (df[treatment].astype(str) == levels[-1]).astype(float).to_numpy(),
    })
    d["interaction"] = d["radscore_high"] * d[arm]
    return cox_multivariate(d, time, event, ["radscore_high", arm, "interaction"])


@dataclass(frozen=True)
class LesionSites:
    """Per-lesion Radscores by site: ``by_site`` table and each site's ROC data."""

    by_site: pd.DataFrame
    roc: dict[str, tuple[np.ndarray, np.ndarray]]
    n_lesions: int
    n_patients: int
    n_multiple: int
    patient_rule: str

    def section(self) -> Section:
        text = (f"{self.n_lesions} baseline lesions of {self.n_patients} patients ({self.n_multiple} with several). "
                f"Patient-level rule: '{self.patient_rule}'.")
        return Section(*SITES, text=text, tables={"by_site": self.by_site},
                       figures={"roc_by_site": roc_figure(self.roc, "Lesion Radscore by site")})


@dataclass(frozen=True)
class TreatmentArms:
    """PFS by arm within each Radscore group, and the group x arm Cox interaction."""

    logrank: pd.DataFrame
    interaction_cox: pd.DataFrame
    interaction_p: float
    treatment: str
    km: dict[str, KmCurves]

    def section(self) -> Section:
        text = (f"Within each Radscore group PFS is compared between arms of '{self.treatment}' (log-rank). Cox "
                f"model with Radscore group, treatment and their product: interaction p = {fmt_p(self.interaction_p)}.")
        return Section(*ARMS, text=text, tables={"logrank": self.logrank, "interaction_cox": self.interaction_cox},
                       figures={f"km_{g}": km.figure() for g, km in self.km.items()})


@dataclass(frozen=True)
class LesionsResult:
    """The two sections of this part, each computed or skipped with the reason."""

    sites: LesionSites | Skipped
    arms: TreatmentArms | Skipped

    def sections(self) -> list[Section]:
        return [self.sites.section(), self.arms.section()]


def lesion_sites(ctx: AnalysisContext) -> LesionSites:
    """AUC of the baseline lesions' Radscores by site; DataError with one site or no endpoint."""
    y_col = ctx.endpoint.column
    sc = ctx.scores[ctx.scores["model"] == ctx.model]
    if "timepoint" in sc:
        sc = sc[sc["timepoint"].astype(str) == "baseline"]
    if "site" not in sc or sc["site"].nunique() < 2:
        raise DataError("one lesion site only (column 'site' has < 2 values)")
    if y_col not in ctx.manifest:
        raise DataError(f"endpoint column '{y_col}' absent")
    les = sc.merge(patient_table(ctx, "baseline")[["patient_id", y_col]], on="patient_id")
    counts = les.groupby("patient_id").size()
    return LesionSites(
        by_site=site_discrimination(les, y_col),
        roc={str(site): (sub[y_col].to_numpy(), sub["radscore"].to_numpy()) for site, sub in les.groupby("site")},
        n_lesions=len(les), n_patients=les["patient_id"].nunique(), n_multiple=int((counts > 1).sum()),
        patient_rule=ctx.settings.lesions.patient_rule)


def treatment_arms(ctx: AnalysisContext) -> TreatmentArms:
    """Log-rank of the arms within each Radscore group and the interaction Cox model."""
    tr, surv = ctx.settings.lesions.treatment_column, ctx.survival
    t, e = surv.pfs_time or "pfs_time", surv.pfs_event or "pfs_event"
    pt = patient_table(ctx, "baseline")
    reason = require_columns(pt, [tr, t, e])
    if reason or pt[tr].nunique() != 2:
        raise DataError(reason or f"'{tr}' does not hold two arms")
    pt = pt[pt[t].notna() & pt[e].notna() & pt[tr].notna()]
    arms = sorted(pt[tr].unique())
    rows, km = [], {}
    for g in ("low", "high"):
        sub = pt[pt["group"] == g]
        if sub.empty:
            continue
        rows.append({"radscore_group": g, "n": len(sub), **{f"n_{a}": int((sub[tr] == a).sum()) for a in arms},
                     "logrank_p": logrank_p(sub[t], sub[e], sub[tr])})
        km[g] = KmCurves.of(sub[t], sub[e], sub[tr], f"PFS by {tr}, {g} Radscore")
    tab = interaction_cox(pt, t, e, "group", tr).summary
    p_int = float(tab.loc[tab["covariate"] == "interaction", "p_value"].iloc[0])
    return TreatmentArms(logrank=pd.DataFrame(rows), interaction_cox=tab, interaction_p=p_int, treatment=tr, km=km)


def compute(ctx: AnalysisContext) -> LesionsResult:
    """Both sections; each is skipped with the reason when its inputs are absent."""
    return LesionsResult(sites=attempt(SITES, lesion_sites, ctx), arms=attempt(ARMS, treatment_arms, ctx))
