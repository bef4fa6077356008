"""Evaluation stage: per model and cohort discrimination (metrics.json) and survival by group.

The numbers come from :mod:`radscore.stats` and the figures from
:mod:`radscore.report.figures`; this module only chooses what to compute on which rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radscore.catalog import MODEL_TITLES
from radscore.config import StudyConfig
from radscore.errors import DataError
from radscore.modeling.patients import patient_rows
from radscore.pipeline.model import outcome_table
from radscore.report.sections import Section

COHORTS = ("training", "testing")


def baseline_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One baseline score per patient and model (primary lesion, else the lowest lesion ID)."""
    return patient_rows(scores, by=("model",))


def compute_metrics(scores: pd.DataFrame, manifest: pd.DataFrame, config: StudyConfig,
                    cutoffs: dict[str, float]) -> dict:
    """``metrics.json``: per model and cohort AUC with 95 % CI, p-value, n and the cutoff."""
    from radscore.stats import roc_auc_ci

    y = outcome_table(manifest, config)
    base = baseline_scores(scores)
    out: dict = {"endpoint": config.endpoint.column, "positive_class": config.endpoint.positive_name, "models": {}}
    for model, grp in base.groupby("model", sort=False):
        entry = {"cutoff": float(cutoffs[model]), "cohorts": {}}
        for cohort in COHORTS:
            sub = grp[grp["cohort"] == cohort]
            yy = y.loc[sub["patient_id"]].values
            if len(np.unique(yy)) < 2:
                entry["cohorts"][cohort] = {"n": int(len(yy)), "auc": None, "note": "one outcome class"}
                continue
            counts = {"n": int(len(yy)), "n_positive": int(yy.sum())}
            try:
                r = roc_auc_ci(yy, sub["radscore"].values)
            except DataError as exc:  # e.g. one patient of a class: the AUC exists, its DeLong CI does not
                from sklearn.metrics import roc_auc_score

                entry["cohorts"][cohort] = {**counts, "auc": float(roc_auc_score(yy, sub["radscore"].values)),
                                            "note": exc.problem}
                continue
            entry["cohorts"][cohort] = {**counts, "auc": float(r.auc), "ci_low": float(r.ci_low),
                                        "ci_high": float(r.ci_high), "p_value": float(r.p_value)}
        out["models"][model] = entry
    return out


def discrimination_section(scores: pd.DataFrame, manifest: pd.DataFrame, config: StudyConfig,
                           metrics: dict) -> Section:
    """ROC curves per cohort for every model, and the AUC table."""
    from matplotlib.figure import Figure

    from radscore.report.figures import plot_roc

    y = outcome_table(manifest, config)
    base = baseline_scores(scores)
    rows, figures = [], {}
    for model, entry in metrics["models"].items():
        for cohort, m in entry["cohorts"].items():
            rows.append({"model": MODEL_TITLES.get(model, model), "cohort": cohort, "n": m["n"],
                         "n_positive": m.get("n_positive"), "AUC": m["auc"], "CI low": m.get("ci_low"),
                         "CI high": m.get("ci_high"), "p": m.get("p_value")})
    for cohort in COHORTS:
        sub = base[base["cohort"] == cohort].pivot(index="patient_id", columns="model", values="radscore")
        yy = y.loc[sub.index].values
        if len(np.unique(yy)) < 2:
            continue
        fig = Figure(figsize=(5.5, 5.5))
        ax = fig.subplots()
        try:
            plot_roc(yy, {MODEL_TITLES.get(m, m): sub[m].values for m in metrics["models"]}, ax=ax,
                     title=f"ROC, {cohort} cohort")
        except DataError:  # too few of a class for the curve's CI: the table says so, no figure
            continue
        figures[f"roc_{cohort}"] = fig
    text = (f"Radscore = log-odds of {config.endpoint.positive_name} from the model; AUC with DeLong 95 % CI "
            "and p-value against AUC = 0.5. Models were trained on the training cohort only; the cutoff "
            f"({config.model.cutoff}) was fixed on training and applied unchanged to testing.")
    return Section(key="discrimination", title="Discrimination of the Radscores", text=text,
                   tables={"auc": pd.DataFrame(rows)}, figures=figures)


def survival_section(scores: pd.DataFrame, manifest: pd.DataFrame, config: StudyConfig, model: str) -> Section:
    """Kaplan–Meier and log-rank of PFS (and OS) by low/high Radscore, per cohort."""
    from matplotlib.figure import Figure

    from radscore.report.figures import plot_km
    from radscore.stats import logrank_test

    s = config.survival
    endpoints = [(n, t, e) for n, t, e in (("PFS", s.pfs_time, s.pfs_event), ("OS", s.os_time, s.os_event))
                 if t and e and t in manifest.columns and e in manifest.columns]
    title = f"Survival by {MODEL_TITLES.get(model, model)} group"
    if not endpoints:
        return Section(key="survival", title=title, skipped="no PFS/OS columns in the manifest")
    base = baseline_scores(scores)
    base = base[base["model"] == model]
    surv = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id").set_index("patient_id")
    rows, figures = [], {}
    for name, tcol, ecol in endpoints:
        for cohort in COHORTS:
            sub = base[base["cohort"] == cohort]
            t = surv.loc[sub["patient_id"], tcol].to_numpy(float)
            e = surv.loc[sub["patient_id"], ecol].to_numpy(float)
            g = sub["group"].to_numpy()
            ok = ~(np.isnan(t) | np.isnan(e))
            if ok.sum() < 4 or len(np.unique(g[ok])) < 2:
                continue
            lr = logrank_test(t[ok], e[ok], g[ok])
            rows.append({"endpoint": name, "cohort": cohort, "n": int(ok.sum()), "events": int(e[ok].sum()),
                         "log-rank chi2": lr.statistic, "p": lr.p_value})
            fig = Figure(figsize=(6, 5))
            ax = fig.subplots()
            plot_km(t[ok], e[ok], g[ok], ax=ax)
            ax.set_title(f"{name}, {cohort} cohort (log-rank p = {lr.p_value:.3g})")
            ax.set_xlabel(f"{name} (months)")
            figures[f"km_{name.lower()}_{cohort}"] = fig
    return Section(key="survival", title=title, tables={"logrank": pd.DataFrame(rows)}, figures=figures,
                   text="Groups by the training cutoff; Kaplan–Meier estimates with numbers at risk; two-sided "
                        "log-rank test.")
