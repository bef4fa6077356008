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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from xgboost import XGBClassifier

from radscore.analyses._shared import KmCurves, auc_row, delong_row, fmt_p, roc_figure
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.errors import ConfigError, DataError
from radscore.report.sections import Section
from radscore.stats import idi, nri

KEY, TITLE = "tps", "Complementarity with PD-L1 TPS"
SECTIONS = ((KEY, TITLE),)


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


def integrated_model(train: pd.DataFrame, test: pd.DataFrame, y_col: str, tps_col: str, seed: int):
    """XGBoost on (radscore, TPS) fitted on ``train``; returns the fitted model and test probabilities.

    Small fixed hyper-parameters (depth 2, 100 trees, eta 0.1) because the inputs are two
    already-strong scores; one thread and the seed make it reproducible.
    """
    clf = XGBClassifier(n_estimators=100, max_depth=2, learning_rate=0.1, random_state=seed, n_jobs=1,
                        eval_metric="logloss", tree_method="exact")
    clf.fit(train[["radscore", tps_col]].to_numpy(float), train[y_col].astype(int).to_numpy())
    return clf, clf.predict_proba(test[["radscore", tps_col]].to_numpy(float))[:, 1]


def reclassification(y, p_old, p_new) -> pd.DataFrame:
    """Continuous NRI and IDI of ``p_new`` over ``p_old`` (one row each; the reason when undefined)."""
    rows = []
    for name, statistic in (("NRI", nri), ("IDI", idi)):
        try:
            rows.append({"statistic": name, **statistic(y, p_old, p_new).summary.iloc[0].to_dict()})
        except DataError as exc:
            rows.append({"statistic": name, "note": exc.message})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class IntegratedModel:
    """The TPS-Radscore model on the testing patients with TPS.

    Attributes
    ----------
    auc, delong, nri_idi : DataFrame
        AUCs of the three scores, DeLong of the integrated model vs the Radscore, NRI/IDI
        of its probability over the Radscore model's.
    roc : dict of str to (y, score)
    n_train, n_test : int
    """

    auc: pd.DataFrame
    delong: pd.DataFrame
    nri_idi: pd.DataFrame
    roc: dict[str, tuple[np.ndarray, np.ndarray]]
    n_train: int
    n_test: int


@dataclass(frozen=True)
class TpsResult:
    """Radscore and TPS, each in the other's failure cohort, and combined.

    Attributes
    ----------
    failure_cohort_auc, correlation, four_groups : DataFrame
    failure_roc : dict of str to (y, score)
        The ROC data of each marker in the other's failure cohort.
    four_group_km : KmCurves or None
        PFS by Radscore group x TPS (None without PFS columns).
    integrated : IntegratedModel or None
        None when the training or testing patients with TPS hold one outcome class.
    n_patients, n_radscore_failure, n_tps_failure : int
    low_cut, high_cut : float
    """

    failure_cohort_auc: pd.DataFrame
    correlation: pd.DataFrame
    four_groups: pd.DataFrame
    failure_roc: dict[str, tuple[np.ndarray, np.ndarray]]
    four_group_km: KmCurves | None
    integrated: IntegratedModel | None
    n_patients: int
    n_radscore_failure: int
    n_tps_failure: int
    low_cut: float
    high_cut: float

    def sections(self) -> list[Section]:
        aucs, corr = self.failure_cohort_auc, self.correlation.iloc[0]
        tables = {"failure_cohort_auc": aucs, "correlation": self.correlation, "four_groups": self.four_groups}
        figures = {"failure_roc": roc_figure(self.failure_roc, "AUC in the other marker's failure cohort")}
        if self.four_group_km is not None:
            figures["four_group_km"] = self.four_group_km.figure()
        text = (f"{self.n_patients} patients with TPS. Radscore-failure cohort n={self.n_radscore_failure}, TPS AUC "
                f"{aucs['auc'].iloc[2]:.3f}; TPS-failure cohort (positive with TPS >= {self.high_cut:g}%, negative "
                f"with TPS < {self.low_cut:g}%) n={self.n_tps_failure}, Radscore AUC {aucs['auc'].iloc[3]:.3f}. "
                f"Spearman rho(Radscore, TPS) = {corr['spearman_rho']:.3f} (p = {fmt_p(corr['p_value'])}). TPS is "
                "negated in AUCs because a high TPS predicts benefit.")
        m = self.integrated
        if m is None:
            text += " Integrated model not fitted: the training or testing patients with TPS hold one outcome class."
        else:
            tables.update(integrated_auc=m.auc, integrated_delong=m.delong, integrated_nri_idi=m.nri_idi)
            figures["integrated_roc"] = roc_figure(m.roc, "Testing patients with TPS")
            text += (f" The integrated XGBoost TPS-Radscore model was fitted on {m.n_train} training patients with "
                     f"TPS and evaluated on {m.n_test} testing patients; NRI/IDI compare its probability with the "
                     "Radscore model's.")
        return [Section(KEY, TITLE, text=text, tables=tables, figures=figures)]


def _integrated(df: pd.DataFrame, y_col: str, tps_col: str, seed: int) -> IntegratedModel | None:
    train, test = df[df["cohort"] == "training"], df[df["cohort"] == "testing"]
    if train[y_col].nunique() < 2 or test[y_col].nunique() < 2:
        return None
    _, p_new = integrated_model(train, test, y_col, tps_col, seed)
    yt, rs, neg_tps = test[y_col].astype(int).to_numpy(), test["radscore"].to_numpy(float), -test[tps_col].to_numpy(float)
    return IntegratedModel(
        auc=pd.DataFrame([auc_row(yt, p_new, "TPS-Radscore (testing)"), auc_row(yt, rs, "Radscore (testing)"),
                          auc_row(yt, neg_tps, "TPS (testing)")]),
        delong=pd.DataFrame([delong_row(yt, p_new, rs, "TPS-Radscore vs Radscore")]),
        nri_idi=reclassification(yt, test["probability"].to_numpy(float), p_new),
        roc={"TPS-Radscore": (yt, p_new), "Radscore": (yt, rs), "TPS": (yt, neg_tps)},
        n_train=len(train), n_test=len(test))


def compute(ctx: AnalysisContext) -> TpsResult:
    """The TPS analyses; ConfigError for inverted cuts, DataError naming absent columns."""
    s = ctx.settings.tps
    if s.high_cut <= s.low_cut:
        raise ConfigError(f"analyses.tps.high_cut ({s.high_cut}) must exceed low_cut ({s.low_cut}).",
                          file="study.yaml", fix="set high_cut above low_cut.")
    y_col, surv = ctx.endpoint.column, ctx.survival
    df = patient_table(ctx, "baseline")
    reason = require_columns(df, [s.column, y_col])
    if reason:
        raise DataError(reason)
    df = df[df[s.column].notna() & df[y_col].notna()].reset_index(drop=True)
    y, tps, rs = df[y_col].astype(int).to_numpy(), df[s.column].to_numpy(float), df["radscore"].to_numpy(float)
    low, high = (df["group"] == "low").to_numpy(), (df["group"] == "high").to_numpy()
    rad_fail, tps_fail = failure_cohorts(y, df["group"], tps, s.low_cut, s.high_cut)
    rho, rho_p = sps.spearmanr(rs, tps)
    mw_p = sps.mannwhitneyu(tps[low], tps[high]).pvalue if low.any() and high.any() else np.nan
    four = four_groups(df["group"], tps, s.high_cut)
    km = None
    if surv.pfs_time and not require_columns(df, [surv.pfs_time, surv.pfs_event]):
        km = KmCurves.of(df[surv.pfs_time], df[surv.pfs_event], four, "PFS by Radscore group and TPS")
    return TpsResult(
        failure_cohort_auc=pd.DataFrame([
            auc_row(y, rs, "Radscore, all patients with TPS"),
            auc_row(y, -tps, "TPS (negated), all patients with TPS"),
            auc_row(y[rad_fail], -tps[rad_fail], "TPS in the Radscore-failure cohort"),
            auc_row(y[tps_fail], rs[tps_fail], "Radscore in the TPS-failure cohort"),
        ]),
        correlation=pd.DataFrame([{
            "spearman_rho": rho, "p_value": rho_p,
            "tps_median_low": float(np.median(tps[low])) if low.any() else np.nan,
            "tps_median_high": float(np.median(tps[high])) if high.any() else np.nan,
            "mannwhitney_p": mw_p}]),
        four_groups=pd.DataFrame({"group": four, "y": y}).groupby("group")["y"].agg(n="size", positive="sum")
        .reset_index(),
        failure_roc={"TPS | Radscore failure": (y[rad_fail], -tps[rad_fail]),
                     "Radscore | TPS failure": (y[tps_fail], rs[tps_fail])},
        four_group_km=km, integrated=_integrated(df, y_col, s.column, ctx.seed), n_patients=len(df),
        n_radscore_failure=int(rad_fail.sum()), n_tps_failure=int(tps_fail.sum()), low_cut=s.low_cut,
        high_cut=s.high_cut)
