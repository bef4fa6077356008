"""Evaluation stage (PROTOCOL A10-A11): every metric per model and cohort, model comparisons,
survival by Radscore group with Cox models.

The numbers come from :mod:`radscore.stats` and the figures from
:mod:`radscore.report.figures`; this module only chooses what to compute on which rows.

Cohorts, in order: ``training_apparent`` (the final model's in-sample scores, optimistic),
``training_oof`` (each training patient scored by the nested-CV fold model that never saw
them: the honest training estimate), ``testing`` and every external cohort. The cutoff is the
one fixed on training (A9) and applied unchanged everywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radscore.catalog import CONVENTIONAL_PREFIX, MODEL_TITLES
from radscore.config import StudyConfig
from radscore.errors import DataError
from radscore.modeling.evaluate import _sigmoid, _try, cohort_metrics
from radscore.modeling.patients import patient_rows
from radscore.modeling.split import cohort_order
from radscore.pipeline.model import model_plan, outcome_table
from radscore.report.sections import Section
from radscore.stats import cox_stepwise, delong_test, idi, logrank_test, nri, roc_auc_ci

log = logging.getLogger(__name__)

APPARENT, OOF = "training_apparent", "training_oof"
COHORT_TITLES = {APPARENT: "training (apparent)", OOF: "training (out-of-fold)"}
CONVENTIONAL_MEASURES = ("SUVmax", "SUVmean", "SUVpeak", "MTV_ml", "TLG")
THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv", "accuracy", "recall", "f1", "mcc", "kappa")


def baseline_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One baseline score per patient and model (primary lesion, else the lowest lesion ID)."""
    return patient_rows(scores, by=("model",))


@dataclass(frozen=True)
class ScoreSet:
    """One cohort's patient-level scores: ``key`` in metrics.json, a wide table patients x models."""

    key: str
    scores: pd.DataFrame  # index patient_id, one column per model
    y: np.ndarray

    @property
    def title(self) -> str:
        return COHORT_TITLES.get(self.key, self.key)


def score_sets(scores: pd.DataFrame, manifest: pd.DataFrame, config: StudyConfig) -> list[ScoreSet]:
    """The cohorts to evaluate, each as patients x models with the outcome."""
    y_all = outcome_table(manifest, config)
    base = baseline_scores(scores)
    base = base[base["cohort"] != "unassigned"]
    out = []
    for cohort in cohort_order(base["cohort"]):
        sub = base[base["cohort"] == cohort]
        columns = [("radscore", APPARENT), ("radscore_oof", OOF)] if cohort == "training" else [("radscore", cohort)]
        for column, key in columns:
            if column not in sub:
                continue
            wide = sub.pivot(index="patient_id", columns="model", values=column).dropna(how="all")
            if wide.empty:
                log.warning("no %s scores: nested CV was off or impossible; training estimates are apparent only", key)
                continue
            wide = wide[[m for m in pd.unique(base["model"]) if m in wide.columns]]
            y = y_all.reindex(wide.index)
            if y.isna().all():
                continue  # a cohort without this endpoint (mCRC response cohort: no phenotype)
            wide = wide[y.notna().to_numpy()]
            out.append(ScoreSet(key, wide, y.dropna().to_numpy(int)))
    return out


def comparisons(sets: list[ScoreSet]) -> dict:
    """Per cohort: paired DeLong tests between every pair of models; NRI and IDI of COMB
    against each single-image Radscore (continuous NRI, probabilities from the Radscores)."""
    out: dict = {}
    for ss in sets:
        if len(np.unique(ss.y)) < 2:
            continue
        models = list(ss.scores.columns)
        both = ss.scores.dropna()
        y = pd.Series(ss.y, index=ss.scores.index).loc[both.index].to_numpy()
        entry: dict = {"delong": [], "reclassification": []}
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                notes: list[str] = []
                r = _try(notes, "DeLong", lambda: delong_test(y, both[a].to_numpy(), both[b].to_numpy()))
                row = {"model_a": a, "model_b": b, "n": int(len(y))}
                row.update({"auc_a": r.auc_a, "auc_b": r.auc_b, "difference": r.diff, "difference_ci_low": r.ci_low,
                            "difference_ci_high": r.ci_high, "p_value": r.p_value}
                           if r is not None else {"note": notes[0]})
                entry["delong"].append(row)
        if "comb" in models:
            for single in (m for m in models if m != "comb"):
                notes = []
                old, new = _sigmoid(both[single]), _sigmoid(both["comb"])
                n_res = _try(notes, "NRI", lambda: nri(y, old, new))
                i_res = _try(notes, "IDI", lambda: idi(y, old, new))
                row = {"model": "comb", "against": single, "n": int(len(y))}
                if n_res is not None:
                    lo, hi = n_res.ci()
                    row.update(nri=n_res.nri, nri_ci_low=lo, nri_ci_high=hi, nri_p_value=n_res.p_value,
                               nri_events=n_res.nri_events, nri_nonevents=n_res.nri_nonevents)
                if i_res is not None:
                    lo, hi = i_res.ci()
                    row.update(idi=i_res.idi, idi_ci_low=lo, idi_ci_high=hi, idi_p_value=i_res.p_value)
                if notes:
                    row["notes"] = notes
                entry["reclassification"].append(row)
        out[ss.key] = entry
    return out


def conventional_comparison(features: pd.DataFrame, sets: list[ScoreSet], model: str) -> dict:
    """Per cohort: AUC of each conventional PET measure (higher = positive class) with its
    DeLong CI, and the paired DeLong test against ``model``'s Radscore (PROTOCOL, "Also in
    the seeds"). Training uses the out-of-fold Radscores when they exist."""
    columns = [c for c in features.columns if c.startswith(CONVENTIONAL_PREFIX)
               and c[len(CONVENTIONAL_PREFIX):] in CONVENTIONAL_MEASURES]
    if not columns:
        return {}
    base = patient_rows(features).set_index("patient_id")
    keys = {ss.key for ss in sets}
    out: dict = {}
    for ss in sets:
        if (ss.key == APPARENT and OOF in keys) or model not in ss.scores or len(np.unique(ss.y)) < 2:
            continue
        rows = []
        for col in columns:
            x = base[col].reindex(ss.scores.index).to_numpy(float)
            r = ss.scores[model].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(r)
            y = ss.y[ok]
            notes: list[str] = []
            row = {"measure": col[len(CONVENTIONAL_PREFIX):], "n": int(ok.sum())}
            auc = _try(notes, "DeLong CI", lambda: roc_auc_ci(y, x[ok]))
            if auc is not None:
                row.update(auc=auc.auc, auc_ci_low=auc.ci_low, auc_ci_high=auc.ci_high, auc_p_value=auc.p_value)
            d = _try(notes, "DeLong test", lambda: delong_test(y, r[ok], x[ok]))
            if d is not None:
                row.update(radscore=model, radscore_auc=d.auc_a, difference=d.diff, delong_p_value=d.p_value)
            if notes:
                row["notes"] = notes
            rows.append(row)
        out["training" if ss.key == OOF else ss.key] = rows
    return out


def compute_metrics(scores: pd.DataFrame, manifest: pd.DataFrame, config: StudyConfig,
                    cutoffs: dict[str, float], features: pd.DataFrame | None = None) -> dict:
    """``metrics.json``: every A10 metric per model and cohort, and the comparisons between models.

    Schema (README, "metrics.json"): ``models.<model>.cohorts.<cohort>`` holds n, AUC with
    DeLong CI and p, PR AUC with bootstrap CI and permutation p, Hosmer-Lemeshow, Brier,
    calibration intercept/slope, ``at_cutoff.<metric>`` {estimate, ci_low, ci_high} and the
    confusion counts; ``comparisons.<cohort>`` holds the DeLong tests and NRI/IDI;
    ``conventional.<cohort>`` the conventional PET measures' AUCs against the analyses'
    Radscore (when ``features`` carries them).
    """
    sets = score_sets(scores, manifest, config)
    out: dict = {"endpoint": config.endpoint.column, "positive_class": config.endpoint.positive_name,
                 "cutoff_rule": f"{config.model.cutoff} on training, applied unchanged; positive when Radscore > "
                                "cutoff",
                 "cohorts": [s.key for s in sets], "models": {},
                 "skipped_models": model_plan(config)[1]}
    for model in cutoffs:
        entry = {"cutoff": float(cutoffs[model]), "cohorts": {}}
        for ss in sets:
            if model in ss.scores:
                entry["cohorts"][ss.key] = cohort_metrics(ss.y, ss.scores[model].to_numpy(float), cutoffs[model],
                                                          config.seed)
        out["models"][model] = entry
    out["comparisons"] = comparisons(sets)
    if features is not None:
        model = config.analyses.model if config.analyses.model in cutoffs else next(iter(cutoffs))
        out["conventional"] = conventional_comparison(features, sets, model)
    return out


def metrics_table(metrics: dict) -> pd.DataFrame:
    """metrics.json as one long table: model, cohort, metric, estimate, CI, p."""
    rows = []
    for model, entry in metrics["models"].items():
        for cohort, m in entry["cohorts"].items():
            base = {"model": MODEL_TITLES.get(model, model), "cohort": COHORT_TITLES.get(cohort, cohort),
                    "n": m["n"], "n_positive": m["n_positive"]}
            if m.get("auc") is None:
                continue
            rows.append({**base, "metric": "ROC AUC", "estimate": m["auc"], "ci_low": m.get("auc_ci_low"),
                         "ci_high": m.get("auc_ci_high"), "p": m.get("auc_p_value")})
            rows.append({**base, "metric": "PR AUC", "estimate": m["pr_auc"], "ci_low": m["pr_auc_ci_low"],
                         "ci_high": m["pr_auc_ci_high"], "p": m["pr_auc_p_value"]})
            if "hosmer_lemeshow" in m:
                rows.append({**base, "metric": "Hosmer-Lemeshow chi2", "estimate": m["hosmer_lemeshow"]["statistic"],
                             "p": m["hosmer_lemeshow"]["p_value"]})
            if "brier" in m:
                rows.append({**base, "metric": "Brier score", "estimate": m["brier"]})
            for name, v in m["at_cutoff"].items():
                rows.append({**base, "metric": name, **v})
    return pd.DataFrame(rows)


def _figure(nrows=1, ncols=1, size=(5.5, 5.5)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def discrimination_section(scores: pd.DataFrame, manifest: pd.DataFrame, config: StudyConfig,
                           metrics: dict, *, key: str = "discrimination",
                           title: str = "Discrimination, calibration and clinical utility of the Radscores") -> Section:
    """ROC, PR, calibration and decision curves per cohort, Radscore by response group and
    waterfall, the metric table and the model comparisons; ``metrics`` as :func:`compute_metrics`
    returns them for ``config``'s endpoint."""
    from radscore.report.figures import (plot_calibration, plot_dca, plot_pr, plot_roc, plot_score_by_group,
                                         plot_waterfall)
    from radscore.stats import net_benefit

    sets = score_sets(scores, manifest, config)
    figures, dca_rows = {}, []
    cutoffs = {m: e["cutoff"] for m, e in metrics["models"].items()}
    labels = (config.endpoint.negative_name, config.endpoint.positive_name)
    for ss in sets:
        if len(np.unique(ss.y)) < 2:
            continue
        wide = ss.scores.dropna()
        y = pd.Series(ss.y, index=ss.scores.index).loc[wide.index].to_numpy()
        named = {MODEL_TITLES.get(m, m): wide[m].to_numpy() for m in wide.columns}
        probs = {k: _sigmoid(v) for k, v in named.items()}
        for kind, plot, values in (("roc", plot_roc, named), ("pr", plot_pr, named),
                                   ("calibration", plot_calibration, probs), ("dca", plot_dca, probs)):
            fig, ax = _figure()
            try:
                plot(y, values, ax=ax[0, 0], title=f"{kind.upper() if kind != 'calibration' else 'Calibration'}, "
                                                  f"{ss.title}")
            except DataError as exc:  # too few of a class for a curve's CI: the table says so
                log.info("%s figure of %s skipped: %s", kind, ss.key, exc.problem)
                continue
            figures[f"{kind}_{ss.key}"] = fig
        nb = net_benefit(y, probs).table
        dca_rows.append(nb.assign(cohort=ss.title))
        n = len(wide.columns)
        for kind in ("box", "waterfall"):
            fig, axes = _figure(1, n, size=(3.4 * n, 3.8))
            for ax, m in zip(axes[0], wide.columns):
                # not `title`: that is the section's (a figure's title here once replaced it)
                panel = f"{MODEL_TITLES.get(m, m)}, {ss.title}"
                group = np.where(y == 1, labels[1], labels[0])
                if kind == "box":
                    plot_score_by_group(wide[m].to_numpy(), group, ax=ax, xlabel="")
                    ax.set_title(f"{panel}\n{ax.get_title()}", fontsize=8)
                else:
                    plot_waterfall(wide[m].to_numpy(), y, cutoff=cutoffs[m], ax=ax, labels=labels, title=panel)
            figures[f"{kind}_{ss.key}"] = fig
    figures.update(_by_recist(sets, manifest, config))
    tables = {"metrics": metrics_table(metrics)}
    delong = [{"cohort": COHORT_TITLES.get(c, c), **r} for c, e in metrics["comparisons"].items() for r in e["delong"]]
    recl = [{"cohort": COHORT_TITLES.get(c, c), **{k: v for k, v in r.items() if k != "notes"}}
            for c, e in metrics["comparisons"].items() for r in e["reclassification"]]
    if delong:
        tables["delong"] = pd.DataFrame(delong)
    if recl:
        tables["nri_idi"] = pd.DataFrame(recl)
    if dca_rows:
        tables["decision_curve"] = pd.concat(dca_rows, ignore_index=True)
    conventional = [{"cohort": COHORT_TITLES.get(c, c), **{k: v for k, v in r.items() if k != "notes"}}
                    for c, rows in metrics.get("conventional", {}).items() for r in rows]
    if conventional:
        tables["conventional_pet"] = pd.DataFrame(conventional)
    text = (f"Radscore = log-odds of {config.endpoint.positive_name} from the model. Per model and cohort: ROC AUC "
            "with DeLong 95 % CI and p against 0.5; PR AUC with stratified bootstrap 95 % CI and permutation p; "
            "calibration (logistic intercept and slope, Brier, Hosmer-Lemeshow with 10 groups) of the model's "
            f"probability; decision curves; and, at the cutoff ({config.model.cutoff}) fixed on training and "
            "applied unchanged, sensitivity, specificity, PPV, NPV, accuracy (Wilson CIs), F1, MCC and Cohen's "
            "kappa (bootstrap CIs). Paired DeLong tests compare every pair of Radscores; continuous NRI and IDI "
            "compare the COMB-Radscore with each single-image Radscore. Conventional PET measures (SUVmax, SUVmean, "
            "SUVpeak, MTV, TLG on the native PET grid; higher = positive class) are compared with the Radscore by "
            "paired DeLong tests. 'Training (apparent)' scores patients with "
            "the model fitted on them and is optimistic; 'training (out-of-fold)' scores each training patient "
            "with the nested-CV model that never saw them and is the honest training estimate.")
    for name, why in metrics.get("skipped_models", {}).items():
        text += f" Not run: {why}."
    return Section(key=key, title=title, text=text, tables=tables, figures=figures)


def _by_recist(sets: list[ScoreSet], manifest: pd.DataFrame, config: StudyConfig) -> dict:
    """The analyses' Radscore by best RECIST response per cohort (Kruskal–Wallis), when the
    manifest has ``recist`` (seed: Radscore by CR/PR/SD/PD)."""
    from radscore.report.figures import plot_score_by_group

    if "recist" not in manifest.columns:
        return {}
    recist = patient_rows(manifest, rule="primary").set_index("patient_id")["recist"].astype("string").str.upper()
    model = config.analyses.model
    figures = {}
    for ss in sets:
        if ss.key == APPARENT or model not in ss.scores:
            continue
        r = recist.reindex(ss.scores.index)
        ok = r.notna().to_numpy() & ss.scores[model].notna().to_numpy()
        if r[ok].nunique() < 2:
            continue
        fig, ax = _figure(size=(4.5, 4.0))
        plot_score_by_group(ss.scores[model].to_numpy()[ok], r.to_numpy()[ok].astype(str), ax=ax[0, 0],
                            xlabel="Best response (RECIST)", ylabel=f"{MODEL_TITLES.get(model, model)}")
        ax[0, 0].set_title(f"{ss.title}: {ax[0, 0].get_title()}", fontsize=9)
        figures[f"recist_{ss.key}"] = fig
    return figures


def survival_section(scores: pd.DataFrame, manifest: pd.DataFrame, config: StudyConfig, model: str,
                     cutoff: float) -> Section:
    """A11: Kaplan–Meier with numbers at risk and log-rank of PFS and OS by low/high Radscore,
    per cohort; univariate Cox of the Radscore group and the configured clinical variables,
    then multivariable Cox of those with p < 0.05.

    Every test that cannot be run is named with the reason (table ``not_estimable``); when
    no log-rank test can, the section is skipped with those reasons. :func:`survival_metrics`
    copies either into ``metrics.json``.
    """
    from radscore.report.figures import plot_km

    s = config.survival
    pairs = [(n, t, e) for n, t, e in (("PFS", s.pfs_time, s.pfs_event), ("OS", s.os_time, s.os_event)) if t and e]
    endpoints = [(n, t, e) for n, t, e in pairs if t in manifest.columns and e in manifest.columns]
    title = f"Survival by {MODEL_TITLES.get(model, model)} group"
    if not endpoints:
        named = ", ".join(f"{n} ({t}, {e})" for n, t, e in pairs)
        why = (f"neither the manifest nor the clinical table has the survival columns study.yaml names: {named}; "
               "set survival: to your columns" if pairs else "no survival endpoint configured (the columns under survival: in study.yaml "
               "are null)")
        log.warning("survival analysis skipped: %s", why)
        return Section(key="survival", title=title, skipped=why)
    sets = [ss for ss in score_sets(scores, manifest, config) if ss.key != APPARENT and model in ss.scores]
    surv = patient_rows(manifest, rule="primary").set_index("patient_id")
    rows, cox_rows, figures, notes = [], [], {}, []
    clinical = [c for c in config.clinical if c in surv.columns]
    for name, tcol, ecol in endpoints:
        for ss in sets:
            sub = surv.loc[ss.scores.index].assign(radscore_group=np.where(ss.scores[model] > cutoff, "high", "low"))
            sub = sub[ss.scores[model].notna().to_numpy()]
            t = pd.to_numeric(sub[tcol], errors="coerce").to_numpy(float)
            e = pd.to_numeric(sub[ecol], errors="coerce").to_numpy(float)
            g = sub["radscore_group"].to_numpy()
            ok = ~(np.isnan(t) | np.isnan(e))
            why = _survival_untestable(int(ok.sum()), int(np.nansum(e[ok])), sorted(set(g[ok])), tcol, ecol)
            if why is not None:
                notes.append(f"log-rank {name}, {ss.title}: {why}")
                continue
            lr = _try(notes, f"log-rank {name}, {ss.title}", lambda: logrank_test(t[ok], e[ok], g[ok]))
            if lr is None:
                continue
            rows.append({"endpoint": name, "cohort": ss.title, "n": int(ok.sum()), "events": int(e[ok].sum()),
                         "log-rank chi2": lr.statistic, "p": lr.p_value})
            fig, ax = _figure(size=(6, 5))
            plot_km(t[ok], e[ok], g[ok], ax=ax[0, 0], time_label=f"{name} (months)",
                    title=f"{name}, {ss.title} (log-rank p = {lr.p_value:.3g})")
            figures[f"km_{name.lower()}_{ss.key}"] = fig
            df = sub[ok].assign(**{tcol: t[ok], ecol: e[ok]})
            df["radscore_group"] = pd.Categorical(df["radscore_group"], categories=["low", "high"])
            cox = _try(notes, f"Cox {name}, {ss.title}",
                       lambda: cox_stepwise(df, tcol, ecol, ["radscore_group", *clinical]))
            if cox is not None:
                summary = cox.summary
                cox_rows.append(summary.assign(endpoint=name, cohort=ss.title))
                flagged = summary.filter(like="separated").any(axis=1)
                if flagged.any():
                    notes.append(f"Cox {name}, {ss.title}: the hazard ratio of "
                                 f"{', '.join(summary.loc[flagged, 'covariate'].astype(str).unique())} (separation: "
                                 "the likelihood rises without bound, e.g. no events in one group; CI unbounded)")
    if not rows:
        why = "; ".join(notes) if notes else "no cohort has Radscores"
        log.warning("survival analysis skipped: no endpoint could be tested: %s", why)
        return Section(key="survival", title=title, skipped=f"no endpoint could be tested: {why}")
    tables = {"logrank": pd.DataFrame(rows)}
    if cox_rows:
        tables["cox"] = pd.concat(cox_rows, ignore_index=True)
    if notes:
        tables["not_estimable"] = pd.DataFrame({"not estimable": notes})
    text = ("Groups by the training cutoff (training patients by their out-of-fold Radscore when nested CV ran); "
            "Kaplan–Meier estimates with numbers at risk; two-sided log-rank test. Cox proportional hazards: "
            f"univariate for the Radscore group (high vs low) and the clinical variables "
            f"({', '.join(clinical) or 'none configured'}), then one multivariable model of those with univariate "
            "p < 0.05; hazard ratios with 95 % CI.")
    if notes:
        log.info("survival analysis: not estimable: %s", "; ".join(notes))
        text += " The tests that could not be run are listed with the reason (not estimable)."
    return Section(key="survival", title=title, tables=tables, figures=figures, text=text)


def _survival_untestable(n: int, events: int, groups: list[str], tcol: str, ecol: str) -> str | None:
    """Why a log-rank test of one endpoint in one cohort cannot be run, or None."""
    if n < 4:
        return f"{n} patient(s) with both {tcol} and {ecol} filled, at least 4 needed"
    if events == 0:
        return f"no events ({ecol} is 0 for all {n} patients)"
    if len(groups) < 2:
        return f"every patient is in the {groups[0]} Radscore group"
    return None


def survival_metrics(section: Section) -> dict:
    """``metrics.json``'s ``survival``: the log-rank rows, the endpoints and cohorts not estimable
    with the reason, or ``skipped`` with the reason when nothing could be tested."""
    if section.skipped:
        return {"skipped": section.skipped}
    out = {"logrank": section.tables["logrank"].to_dict("records")}
    if "not_estimable" in section.tables:
        out["not_estimable"] = section.tables["not_estimable"]["not estimable"].tolist()
    return out


def baseline_section(manifest: pd.DataFrame, cohorts: pd.Series, config: StudyConfig) -> Section:
    """Table 1: baseline characteristics per cohort with tests between cohorts (seed Table 1).

    ``tableone`` (Pollard et al., JAMIA Open 2018) does the summaries and tests: mean (SD) and
    one-way ANOVA (the t-test for two cohorts) where every cohort passes Shapiro–Wilk at
    0.05, else median [Q1, Q3] and Kruskal–Wallis (Mann–Whitney for two); n (%) and
    chi-square, or Fisher's exact test for a 2 x 2 table with an expected count below 5.
    """
    from scipy import stats as sps
    from tableone import TableOne

    title = "Baseline characteristics (Table 1)"
    base = patient_rows(manifest, rule="primary").set_index("patient_id")
    base = base.loc[base.index.intersection(cohorts.index)].assign(cohort=cohorts)
    variables = [c for c in dict.fromkeys([*config.clinical, config.endpoint.column])
                 if c in base and base[c].notna().any()]
    if not variables or base["cohort"].nunique() < 2:
        return Section(key="baseline", title=title, skipped="no clinical variables named in study.yaml (clinical:)"
                       if not variables else "one cohort only")
    categorical = [c for c in variables if not pd.api.types.is_numeric_dtype(base[c]) or base[c].nunique() <= 5]
    nonnormal = []
    for c in (v for v in variables if v not in categorical):
        groups = [g.dropna().to_numpy(float) for _, g in base.groupby("cohort")[c]]
        if any(len(g) >= 3 and sps.shapiro(g).pvalue < 0.05 for g in groups):
            nonnormal.append(c)
    order = cohort_order(base["cohort"])
    table = TableOne(base.reset_index(), columns=variables, categorical=categorical, nonnormal=nonnormal,
                     groupby="cohort", order={"cohort": order}, pval=True, htest_name=True, missing=True,
                     overall=True).tableone
    table.columns = [c[1] if isinstance(c, tuple) else c for c in table.columns]
    table = table.reset_index().rename(columns={"level_0": "variable", "level_1": "level"})
    text = ("Patients per cohort at baseline. Continuous variables: mean (SD) and one-way ANOVA (t-test for two "
            "cohorts) when each cohort passes Shapiro–Wilk at 0.05, else median [Q1, Q3] and Kruskal–Wallis "
            "(Mann–Whitney for two cohorts); categorical: n (%) and chi-square, or Fisher's exact test for 2 x 2 "
            "tables with an expected count below 5. Computed with tableone.")
    return Section(key="baseline", title=title, text=text, tables={"table 1": table})
