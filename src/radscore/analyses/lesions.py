"""Lesion sites and treatment arms (PROTOCOL A14; NSCLC seed Supplementary Results 1-2).

Per-lesion Radscores (every baseline lesion scored with the same model) are summarised
and their AUC for the patient's endpoint computed by site. The patient-level Radscore
used elsewhere follows ``analyses.lesions.patient_rule`` (the primary lesion by default).
With a treatment column, PFS is compared between arms within each Radscore group (KM,
log-rank) and the group x treatment interaction is tested in a Cox model with both main
effects and their product (Wald test of the product term).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from radscore.analyses._shared import auc_row, fmt_p, km_figure, logrank_p, roc_figure, tool
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.report.sections import Section

logger = logging.getLogger(__name__)


def site_discrimination(lesions: pd.DataFrame, y_col: str) -> pd.DataFrame:
    """Per site: lesions, median Radscore and AUC (DeLong CI) of the lesion's Radscore for ``y_col``."""
    rows = []
    for site, sub in lesions.groupby("site", sort=True):
        row = auc_row(sub[y_col], sub["radscore"], str(site))
        row["median_radscore"] = float(sub["radscore"].median())
        rows.append(row)
    return pd.DataFrame(rows).rename(columns={"analysis": "site"})


def interaction_cox(df: pd.DataFrame, time: str, event: str, group: str, treatment: str):
    """Cox model ``group_high + treatment + group_high:treatment``; returns the CoxResult.

    Both factors are coded 0/1 (group high = 1; treatment = 1 for the second sorted level).
    """
    levels = sorted(df[treatment].dropna().astype(str).unique())
    d = pd.DataFrame({
        time: df[time].to_numpy(float), event: df[event].to_numpy(int),
        "radscore_high": (df[group].astype(str) == "high").astype(float).to_numpy(),
        f"treatment_{levels[-1]}": (df[treatment].astype(str) == levels[-1]).astype(float).to_numpy(),
    })
    d["interaction"] = d["radscore_high"] * d[f"treatment_{levels[-1]}"]
    covs = ["radscore_high", f"treatment_{levels[-1]}", "interaction"]
    return tool("radscore.stats", "cox_multivariate")(d, time, event, covs)


def run(ctx: AnalysisContext) -> list[Section]:
    s = ctx.config.analyses.lesions
    y_col = ctx.config.endpoint.column
    out = []
    sc = ctx.scores[(ctx.scores["model"] == ctx.model)]
    if "timepoint" in sc:
        sc = sc[sc["timepoint"].astype(str) == "baseline"]
    key, title = "lesion_sites", "Radscore by lesion site"
    if "site" not in sc or sc["site"].nunique() < 2:
        out.append(Section(key, title, skipped="one lesion site only (column 'site' has < 2 values)"))
    else:
        pt = patient_table(ctx, "baseline")[["patient_id", y_col]] if y_col in ctx.manifest else None
        if pt is None:
            out.append(Section(key, title, skipped=f"endpoint column '{y_col}' absent"))
        else:
            les = sc.merge(pt, on="patient_id")
            tab = site_discrimination(les, y_col)
            counts = les.groupby("patient_id").size()
            text = (f"{len(les)} baseline lesions of {les['patient_id'].nunique()} patients "
                    f"({int((counts > 1).sum())} with several). Patient-level rule: '{s.patient_rule}'.")
            curves = {str(site): (sub[y_col].to_numpy(), sub["radscore"].to_numpy())
                      for site, sub in les.groupby("site", sort=True)}
            out.append(Section(key, title, text=text, tables={"by_site": tab},
                               figures={"roc_by_site": roc_figure(curves, "Lesion Radscore by site")}))
    key, title = "treatment_arms", "PFS by treatment arm within Radscore groups"
    surv = ctx.config.survival
    pt = patient_table(ctx, "baseline")
    reason = require_columns(pt, [s.treatment_column, surv.pfs_time or "pfs_time", surv.pfs_event or "pfs_event"])
    if reason or pt[s.treatment_column].nunique() != 2:
        out.append(Section(key, title, skipped=reason or f"'{s.treatment_column}' does not hold two arms"))
        return out
    t, e, tr = surv.pfs_time, surv.pfs_event, s.treatment_column
    pt = pt[pt[t].notna() & pt[e].notna() & pt[tr].notna()]
    figures, rows = {}, []
    for g in ("low", "high"):
        sub = pt[pt["group"] == g]
        if sub.empty:
            continue
        p = logrank_p(sub[t], sub[e], sub[tr])
        rows.append({"radscore_group": g, "n": len(sub), **{f"n_{a}": int((sub[tr] == a).sum()) for a in sorted(pt[tr].unique())},
                     "logrank_p": p})
        figures[f"km_{g}"] = km_figure(sub[t], sub[e], sub[tr], f"PFS by {tr}, {g} Radscore")
    tables = {"logrank": pd.DataFrame(rows)}
    cox = interaction_cox(pt, t, e, "group", tr)
    tables["interaction_cox"] = cox.summary
    tab = cox.summary
    p_int = float(tab.loc[tab["covariate"] == "interaction", "p_value"].iloc[0]) if "covariate" in tab else np.nan
    text = (f"Within each Radscore group PFS is compared between arms of '{tr}' (log-rank). Cox model with "
            f"Radscore group, treatment and their product: interaction p = {fmt_p(p_int)}.")
    out.append(Section(key, title, text=text, tables=tables, figures=figures))
    return out
