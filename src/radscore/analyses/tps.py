"""Complementarity of the Radscore and PD-L1 TPS (PROTOCOL A13; NSCLC seed, Fig. 5).

* Radscore-failure cohort: NDB patients with a low Radscore and DCB patients with a high
  one; the AUC of TPS there.
* TPS-failure cohort: NDB patients with TPS >= ``high_cut`` and DCB patients with
  TPS < ``low_cut``; the AUC of the Radscore there.
* Spearman correlation of Radscore and TPS; four-group KM (Radscore low/high x TPS
  >= / < ``high_cut``).
* The integrated TPS-Radscore model: XGBoost on (Radscore, TPS), fitted on the training
  patients with a TPS and evaluated on the testing ones, compared with the Radscore alone
  by DeLong, NRI and IDI.

The positive class is the endpoint's (NDB by default), so TPS enters AUCs negated: a
high TPS predicts benefit. AUCs are reported for predicting the positive class.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.analyses._shared import MissingTool, auc_row, delong_row, fmt_p, km_figure, roc_figure, tool
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.errors import ConfigError, DataError
from radscore.report.sections import Section

logger = logging.getLogger(__name__)


def failure_cohorts(y, group, tps, low_cut: float = 1.0, high_cut: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the Radscore-failure and TPS-failure cohorts.

    Parameters
    ----------
    y : array-like of 0/1
        1 = NDB (positive class).
    group : array-like of {"high", "low"}
        Radscore group by the training cutoff (high = predicted NDB).
    tps : array-like of float
        PD-L1 tumour proportion score in percent.

    Returns
    -------
    radscore_failure, tps_failure : bool arrays
        ``(y=1 & low) | (y=0 & high)`` and ``(y=1 & tps >= high_cut) | (y=0 & tps < low_cut)``.
    """
    y, g, t = np.asarray(y, int), np.asarray(group).astype(str), np.asarray(tps, float)
    rad_fail = ((y == 1) & (g == "low")) | ((y == 0) & (g == "high"))
    tps_fail = ((y == 1) & (t >= high_cut)) | ((y == 0) & (t < low_cut))
    return rad_fail, tps_fail


def four_groups(group, tps, high_cut: float = 50.0) -> np.ndarray:
    """Labels ``"<low|high>-RS, TPS>=50%"`` / ``"<low|high>-RS, TPS<50%"`` (short: KM legends)."""
    g, t = np.asarray(group).astype(str), np.asarray(tps, float)
    hi = np.where(t >= high_cut, f"TPS>={high_cut:g}%", f"TPS<{high_cut:g}%")
    return np.char.add(np.char.add(g.astype("<U8"), "-RS, "), hi.astype("<U20"))


def integrated_model(train: pd.DataFrame, test: pd.DataFrame, y_col: str, seed: int):
    """XGBoost on (radscore, tps) fitted on ``train``; returns the fitted model and test probabilities.

    Small fixed hyper-parameters (depth 2, 100 trees, eta 0.1) because the inputs are two
    already-strong scores; one thread and the seed make it reproducible.
    """
    from xgboost import XGBClassifier

    clf = XGBClassifier(n_estimators=100, max_depth=2, learning_rate=0.1, random_state=seed, n_jobs=1,
                        eval_metric="logloss", tree_method="exact")
    clf.fit(train[["radscore", "tps"]].to_numpy(float), train[y_col].astype(int).to_numpy())
    return clf, clf.predict_proba(test[["radscore", "tps"]].to_numpy(float))[:, 1]


def _reclassification(y, p_old, p_new) -> pd.DataFrame:
    rows = []
    for name in ("nri", "idi"):
        try:
            r = tool("radscore.stats", name)(y, p_old, p_new)
        except (MissingTool, DataError) as exc:
            rows.append({"statistic": name.upper(), "note": str(exc)})
            continue
        row = {"statistic": name.upper()}
        row.update({k: v for k, v in r.summary.iloc[0].items()} if hasattr(r, "summary") else dict(r))
        rows.append(row)
    return pd.DataFrame(rows)


def run(ctx: AnalysisContext) -> list[Section]:
    s = ctx.config.analyses.tps
    key, title = "tps", "Complementarity with PD-L1 TPS"
    if s.high_cut <= s.low_cut:
        raise ConfigError(f"analyses.tps.high_cut ({s.high_cut}) must exceed low_cut ({s.low_cut}).",
                          file="study.yaml", fix="set high_cut above low_cut.")
    y_col = ctx.config.endpoint.column
    df = patient_table(ctx, "baseline")
    reason = require_columns(df, [s.column, y_col])
    if reason:
        return [Section(key, title, skipped=reason)]
    df = df[df[s.column].notna() & df[y_col].notna()].reset_index(drop=True)
    y, tps, rs = df[y_col].astype(int).to_numpy(), df[s.column].to_numpy(float), df["radscore"].to_numpy(float)
    rad_fail, tps_fail = failure_cohorts(y, df["group"], tps, s.low_cut, s.high_cut)
    aucs = pd.DataFrame([
        auc_row(y, rs, "Radscore, all patients with TPS"),
        auc_row(y, -tps, "TPS (negated), all patients with TPS"),
        auc_row(y[rad_fail], -tps[rad_fail], "TPS in the Radscore-failure cohort"),
        auc_row(y[tps_fail], rs[tps_fail], "Radscore in the TPS-failure cohort"),
    ])
    rho, rho_p = sps.spearmanr(rs, tps)
    mw = sps.mannwhitneyu(tps[df["group"] == "low"], tps[df["group"] == "high"]) if df["group"].nunique() == 2 else None
    corr = pd.DataFrame([{"spearman_rho": rho, "p_value": rho_p,
                          "tps_median_low": float(np.median(tps[df["group"] == "low"])) if (df["group"] == "low").any() else np.nan,
                          "tps_median_high": float(np.median(tps[df["group"] == "high"])) if (df["group"] == "high").any() else np.nan,
                          "mannwhitney_p": mw.pvalue if mw else np.nan}])
    tables = {"failure_cohort_auc": aucs, "correlation": corr}
    figures = {"failure_roc": roc_figure({"TPS | Radscore failure": (y[rad_fail], -tps[rad_fail]),
                                          "Radscore | TPS failure": (y[tps_fail], rs[tps_fail])},
                                         "AUC in the other marker's failure cohort")}
    surv = ctx.config.survival
    four = four_groups(df["group"], tps, s.high_cut)
    if surv.pfs_time and not require_columns(df, [surv.pfs_time, surv.pfs_event]):
        figures["four_group_km"] = km_figure(df[surv.pfs_time], df[surv.pfs_event], four, "PFS by Radscore group and TPS")
    tables["four_groups"] = (pd.DataFrame({"group": four, "y": y}).groupby("group")["y"]
                             .agg(n="size", positive="sum").reset_index())
    text = (f"{len(df)} patients with TPS. Radscore-failure cohort n={int(rad_fail.sum())}, TPS AUC "
            f"{aucs['auc'].iloc[2]:.3f}; TPS-failure cohort (positive with TPS >= {s.high_cut:g}%, negative with "
            f"TPS < {s.low_cut:g}%) n={int(tps_fail.sum())}, Radscore AUC {aucs['auc'].iloc[3]:.3f}. "
            f"Spearman rho(Radscore, TPS) = {rho:.3f} (p = {fmt_p(rho_p)}). TPS is negated in AUCs because a high "
            f"TPS predicts benefit.")
    train, test = df[df["cohort"] == "training"], df[df["cohort"] == "testing"]
    if train[y_col].nunique() == 2 and test[y_col].nunique() == 2:
        _, p_new = integrated_model(train, test, y_col, ctx.seed)
        yt = test[y_col].astype(int).to_numpy()
        p_old = test["probability"].to_numpy(float)
        tables["integrated_auc"] = pd.DataFrame([auc_row(yt, p_new, "TPS-Radscore (testing)"),
                                                 auc_row(yt, test["radscore"], "Radscore (testing)"),
                                                 auc_row(yt, -test["tps"].to_numpy(float), "TPS (testing)")])
        tables["integrated_delong"] = pd.DataFrame([delong_row(yt, p_new, test["radscore"], "TPS-Radscore vs Radscore")])
        tables["integrated_nri_idi"] = _reclassification(yt, p_old, p_new)
        figures["integrated_roc"] = roc_figure({"TPS-Radscore": (yt, p_new), "Radscore": (yt, test["radscore"].to_numpy()),
                                                "TPS": (yt, -test["tps"].to_numpy(float))}, "Testing patients with TPS")
        text += (f" The integrated XGBoost TPS-Radscore model was fitted on {len(train)} training patients with TPS "
                 f"and evaluated on {len(test)} testing patients; NRI/IDI compare its probability with the "
                 f"Radscore model's.")
    else:
        text += " Integrated model not fitted: the training or testing patients with TPS hold one outcome class."
    return [Section(key, title, text=text, tables=tables, figures=figures)]
