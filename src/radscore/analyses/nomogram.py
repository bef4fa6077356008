"""Cox nomograms for OS and PFS, and the Radscore against serum markers (PROTOCOL B5, A10).

For each survival endpoint: candidate clinical variables are screened by an L1-penalised
Cox model (scikit-survival ``CoxnetSurvivalAnalysis``, penalty chosen by 5-fold CV of
Harrell's C) on training patients; the survivors enter a multivariable Cox model
(``radscore.stats.cox_multivariate``, lifelines) together with the Rad-Score and the
Immunoscore. The model is drawn as a points nomogram and evaluated on the testing
patients at the configured horizon: time-dependent AUC (Uno IPCW, training censoring),
calibration (KM observed vs predicted by risk group) and a decision curve for
"event by the horizon" among patients whose status at the horizon is known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from radscore.analyses._nomogram_draw import draw_nomogram, nomogram_scales
from radscore.analyses._shared import MissingTool, auc_row, km_figure, new_figure, tool
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.analyses.immunoscore import add_immunoscore
from radscore.errors import DataError
from radscore.report.sections import Section

logger = logging.getLogger(__name__)


def encode(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Numeric columns as they are; others as 0/1 indicators against their first sorted level."""
    parts = []
    for c in columns:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col):
            parts.append(col.astype(float).rename(c))
        else:
            levels = sorted(col.dropna().astype(str).unique())
            for lev in levels[1:]:
                ind = (col.astype(str) == lev).astype(float).where(col.notna())
                parts.append(ind.rename(f"{c}={lev}"))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=df.index)


def lasso_screen(X: pd.DataFrame, time, event, seed: int = 0, folds: int = 5) -> list[str]:
    """Variables with a non-zero coefficient in a CV-tuned L1 Cox model (Tibshirani 1997).

    Columns are standardised; the penalty is chosen among scikit-survival's path by
    ``folds``-fold (shuffled, seeded) cross-validated Harrell's C.
    """
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sksurv.linear_model import CoxnetSurvivalAnalysis
    from sksurv.util import Surv

    if X.shape[1] == 0:
        return []
    import warnings

    y = Surv.from_arrays(np.asarray(event, bool), np.asarray(time, float))
    Xs = X.to_numpy(float)
    path = make_pipeline(StandardScaler(), CoxnetSurvivalAnalysis(l1_ratio=1.0, alpha_min_ratio=0.01, n_alphas=30))
    path.fit(Xs, y)
    alphas = path[-1].alphas_
    with warnings.catch_warnings():
        # the largest penalties of the path zero every coefficient by design
        warnings.filterwarnings("ignore", message="all coefficients are zero")
        cv = GridSearchCV(
            make_pipeline(StandardScaler(), CoxnetSurvivalAnalysis(l1_ratio=1.0, fit_baseline_model=False)),
            {"coxnetsurvivalanalysis__alphas": [[a] for a in alphas]},
            cv=KFold(folds, shuffle=True, random_state=seed), error_score=0.5,
        ).fit(Xs, y)
    coef = cv.best_estimator_[-1].coef_.ravel()
    return [c for c, b in zip(X.columns, coef) if abs(b) > 1e-10]


def _decision_curve(y, risk, thresholds) -> pd.DataFrame:
    nb = tool("radscore.stats", "net_benefit")
    r = nb(y, risk, thresholds)
    return r.summary if hasattr(r, "summary") else pd.DataFrame(r)


def fit_nomogram(ctx: AnalysisContext, df: pd.DataFrame, time: str, event: str, name: str) -> Section:
    s = ctx.config.analyses.nomogram
    key, title = f"nomogram_{name}", f"Nomogram for {name.upper()}"
    h = s.horizon_months
    candidates = [c for c in s.candidates if c in df.columns and df[c].notna().any()]
    clin = encode(df, candidates)
    base = ["radscore"] + (["immunoscore"] if "immunoscore" in df and df["immunoscore"].notna().any() else [])
    data = pd.concat([df[["patient_id", "cohort", time, event, *base]].reset_index(drop=True),
                      clin.reset_index(drop=True)], axis=1).dropna()
    train, test = data[data["cohort"] == "training"], data[data["cohort"] == "testing"]
    if train[event].sum() < 5:
        return Section(key, title, skipped=f"fewer than 5 {name.upper()} events among training patients")
    screened = lasso_screen(train[clin.columns], train[time], train[event], ctx.seed)
    covs = base + screened
    cox = tool("radscore.stats", "cox_multivariate")(train, time, event, covs)
    model = cox.model
    coef = model.params_.reindex(covs)
    tables = {"screening": pd.DataFrame({"variable": list(clin.columns),
                                         "selected": [c in screened for c in clin.columns]}),
              "cox": cox.summary}
    ranges = pd.DataFrame({"low": train[covs].quantile(0.01), "high": train[covs].quantile(0.99)})
    scales = nomogram_scales(coef, ranges)
    s0 = float(np.interp(h, model.baseline_survival_.index.to_numpy(), model.baseline_survival_.iloc[:, 0].to_numpy()))
    lp_mean = float((model._norm_mean.reindex(covs) * coef).sum())
    figures = {"nomogram": draw_nomogram(scales, s0, lp_mean, h, f"{name.upper()} probability")}
    text = (f"L1-penalised Cox screening kept {', '.join(screened) or 'no clinical variable'} of "
            f"{len(clin.columns)} candidates; the multivariable Cox model ({len(train)} training patients, "
            f"{int(train[event].sum())} events) holds {', '.join(covs)}. Concordance (training) {cox.concordance:.3f}.")
    if len(test) >= 10 and test[event].sum() >= 2:
        lp = model.predict_log_partial_hazard(test[covs]).to_numpy(float)
        cut = float(np.median(model.predict_log_partial_hazard(train[covs]).to_numpy(float)))
        figures["km_risk_group"] = km_figure(test[time], test[event], np.where(lp > cut, "high risk", "low risk"),
                                             f"{name.upper()} of testing patients by nomogram risk "
                                             "(training median)")
        surv_h = model.predict_survival_function(test[covs], times=[h]).iloc[0].to_numpy(float)
        try:
            tdauc = tool("radscore.stats", "time_dependent_auc")(test[time], test[event], lp, [h],
                                                                  train_time=train[time], train_event=train[event])
            tables["time_dependent_auc"] = tdauc.summary
            text += f" Testing time-dependent AUC at {h:g} months {tdauc.table['auc'].iloc[0]:.3f}."
        except DataError as exc:
            text += f" Time-dependent AUC not computed: {exc.problem}"
        cal = tool("radscore.stats", "survival_calibration")(test[time], test[event], np.clip(surv_h, 1e-6, 1 - 1e-6), h,
                                                             groups=min(5, max(2, len(test) // 10)))
        tables["calibration"] = cal.summary
        figures["calibration"] = _calibration_figure(cal.table, h, name)
        known = (test[event].to_numpy() == 1) & (test[time].to_numpy() <= h) | (test[time].to_numpy() > h)
        y_h = ((test[event].to_numpy() == 1) & (test[time].to_numpy() <= h)).astype(int)[known]
        try:
            dca = _decision_curve(y_h, 1 - surv_h[known], np.round(np.arange(0.05, 0.96, 0.05), 2))
            tables["decision_curve"] = dca
            figures["decision_curve"], ax = new_figure((4.8, 3.6))
            tool("radscore.report.figures", "plot_dca")(y_h, {f"nomogram, risk by {h:g} months": 1 - surv_h[known]},
                                                        np.round(np.arange(0.05, 0.96, 0.05), 2), ax=ax)
            text += (f" The decision curve uses event by {h:g} months among {int(known.sum())} testing patients "
                     "whose status then is known (censored earlier excluded).")
        except (MissingTool, DataError) as exc:
            text += f" Decision curve not drawn: {exc}."
    else:
        text += " Too few testing patients/events to evaluate the nomogram."
    return Section(key, title, text=text, tables=tables, figures=figures)


def _calibration_figure(table: pd.DataFrame, horizon: float, name: str):

    fig, ax = new_figure((4.2, 4.2))
    ax.errorbar(table["predicted"], table["observed"],
                yerr=[table["observed"] - table["ci_low"], table["ci_high"] - table["observed"]], fmt="o")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set_xlabel(f"predicted {name.upper()} at {horizon:g} months")
    ax.set_ylabel("observed (Kaplan-Meier)")
    fig.tight_layout()
    return fig


def serum_markers(ctx: AnalysisContext, df: pd.DataFrame) -> Section:
    """AUC of the Radscore and each serum marker for the endpoint; Spearman correlation matrix."""
    s = ctx.config.analyses.nomogram
    key, title = "serum_markers", "Radscore and serum markers"
    y_col = ctx.config.endpoint.column
    markers = [m for m in s.serum_markers if m in df.columns and df[m].notna().any()]
    if not markers or y_col not in df:
        return Section(key, title, skipped=f"none of the serum markers {s.serum_markers} in the clinical table")
    rows = [auc_row(df[y_col], df["radscore"], "Radscore")]
    rows += [auc_row(df[y_col], df[m], m) for m in markers]
    corr = df[["radscore", *markers]].corr(method="spearman")

    fig, ax = new_figure((4.8, 4.2))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(corr)), corr.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(corr)), corr.columns, fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman rho")
    fig.tight_layout()
    text = ("AUC of each marker as measured (higher value = more likely "
            f"{ctx.config.endpoint.positive_name}; an AUC below 0.5 means the reverse), all baseline patients "
            "with the marker.")
    return Section(key, title, text=text, tables={"auc": pd.DataFrame(rows), "spearman": corr.rename_axis("variable").reset_index()},
                   figures={"correlation": fig})


def run(ctx: AnalysisContext) -> list[Section]:
    df = patient_table(ctx, "baseline")
    with_is, _ = add_immunoscore(ctx, df)
    if with_is is not None:
        df = with_is
    out = []
    surv = ctx.config.survival
    for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event)):
        reason = require_columns(df, [c for c in (t, e) if c] or ["(survival columns unset)"]) if t and e else \
            f"survival.{name}_time/{name}_event not configured"
        if reason:
            out.append(Section(f"nomogram_{name}", f"Nomogram for {name.upper()}", skipped=reason))
            continue
        out.append(fit_nomogram(ctx, df, t, e, name))
    out.append(serum_markers(ctx, df))
    return out
