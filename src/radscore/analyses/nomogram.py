"""Cox nomograms for OS and PFS, and the Radscore against serum markers (PROTOCOL B5, A10).

For each survival endpoint: candidate clinical variables are screened by an L1-penalised
Cox model (scikit-survival ``CoxnetSurvivalAnalysis``, penalty chosen by 5-fold CV of
Harrell's C) on training patients; the survivors enter a multivariable Cox model
(``radscore.stats.cox_multivariate``, lifelines) together with the Rad-Score and the
Immunoscore. The model is drawn as a points nomogram and evaluated on the testing
patients at the configured horizon: time-dependent AUC (Uno IPCW, training censoring),
calibration (KM observed vs predicted by risk group) and a decision curve for
"event by the horizon" on all testing patients, censoring handled by the Kaplan-Meier
risk among test-positive patients (``radscore.stats.survival_net_benefit``, the survival
mode of ``dcurves``; Vickers et al. 2008).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.util import Surv

from radscore.analyses._nomogram_draw import NomogramScales, draw_nomogram, nomogram_scales
from radscore.analyses._shared import KmCurves, Skipped, attempt, auc_row, new_figure
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.analyses.immunoscore import add_immunoscore
from radscore.catalog import CONVENTIONAL_PREFIX
from radscore.config import EndpointSettings, NomogramSettings
from radscore.errors import DataError
from radscore.modeling.patients import patient_rows
from radscore.modeling.split import cohort_order
from radscore.report.figures import plot_survival_dca
from radscore.report.sections import Section
from radscore.stats import (CoxResult, NetBenefitResult, cox_multivariate, survival_calibration,
                            survival_net_benefit, time_dependent_auc)

OS = ("nomogram_os", "Nomogram for OS")
PFS = ("nomogram_pfs", "Nomogram for PFS")
SERUM = ("serum_markers", "Radscore and serum markers")
SECTIONS = (OS, PFS, SERUM)
#: Threshold probabilities of the decision curve.
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)
#: Patient resamples of the time-dependent AUC's percentile interval.
TD_AUC_BOOTSTRAP = 200


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
    if X.shape[1] == 0:
        return []
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


def calibration_figure(table: pd.DataFrame, horizon: float, name: str):
    """Predicted vs Kaplan-Meier observed survival at the horizon, by risk group."""
    fig, ax = new_figure((4.2, 4.2))
    ax.errorbar(table["predicted"], table["observed"],
                yerr=[table["observed"] - table["ci_low"], table["ci_high"] - table["observed"]], fmt="o")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set_xlabel(f"predicted {name.upper()} at {horizon:g} months")
    ax.set_ylabel("observed (Kaplan-Meier)")
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class NomogramTest:
    """The nomogram on the testing patients at the horizon.

    Attributes
    ----------
    km : KmCurves
        Survival by nomogram risk group (high when above the training median).
    time_dependent_auc : DataFrame or None
        None with ``auc_note`` saying why.
    calibration : DataFrame
        ``radscore.stats.survival_calibration`` table.
    decision_curve : NetBenefitResult or None
        ``radscore.stats.survival_net_benefit`` of the predicted risk of an event by the
        horizon (1 - predicted survival) on all testing patients (those censored before the
        horizon count through the Kaplan-Meier; NaN where every test-positive patient's
        follow-up ends before it): the table and the figure. None with ``dca_note`` saying why.
    auc_note, dca_note : str
    """

    km: KmCurves
    time_dependent_auc: pd.DataFrame | None
    calibration: pd.DataFrame
    decision_curve: NetBenefitResult | None
    auc_note: str
    dca_note: str


@dataclass(frozen=True)
class NomogramFit:
    """The Cox nomogram of one endpoint.

    Attributes
    ----------
    name : str
        ``os`` or ``pfs``.
    candidates, screened, covariates : tuple of str
        Encoded clinical candidates, those kept by L1 screening, and the Cox model's terms.
    cox : CoxResult
        Fitted on the training patients.
    scales : NomogramScales
    s0, lp_mean : float
        Baseline survival at the horizon and mean linear predictor (training).
    horizon : float
    tests : dict of str to NomogramTest
        The evaluation in each cohort but training (testing, internal, each external one) with
        at least 10 patients and 2 events; empty when none has them.
    """

    name: str
    candidates: tuple[str, ...]
    screened: tuple[str, ...]
    covariates: tuple[str, ...]
    cox: CoxResult
    scales: NomogramScales
    s0: float
    lp_mean: float
    horizon: float
    tests: dict[str, NomogramTest]

    def section(self) -> Section:
        key_title, h, name = (OS if self.name == "os" else PFS), self.horizon, self.name.upper()
        tables = {"screening": pd.DataFrame({"variable": list(self.candidates),
                                             "selected": [c in self.screened for c in self.candidates]}),
                  "cox": self.cox.summary}
        figures = {"nomogram": draw_nomogram(self.scales, self.s0, self.lp_mean, h, f"{name} probability")}
        text = (f"L1-penalised Cox screening kept {', '.join(self.screened) or 'no clinical variable'} of "
                f"{len(self.candidates)} candidates; the multivariable Cox model ({self.cox.n} training patients, "
                f"{self.cox.events} events) holds {', '.join(self.covariates)}. Concordance (training) "
                f"{self.cox.concordance:.3f}.")
        if not self.tests:
            text += " Too few patients/events outside training to evaluate the nomogram."
        for cohort, t in self.tests.items():
            # the testing cohort keeps the plain keys; every other cohort's carry its name
            sfx = "" if cohort == "testing" else f"_{cohort}"
            figures[f"km_risk_group{sfx}"] = t.km.figure()
            if t.time_dependent_auc is not None:
                tables[f"time_dependent_auc{sfx}"] = t.time_dependent_auc
                r = t.time_dependent_auc.iloc[0]
                ci = f" (95 % CI {r['ci_low']:.3f}-{r['ci_high']:.3f})" if np.isfinite(r.get("ci_low", np.nan)) else ""
                text += f" {cohort.capitalize()}: time-dependent AUC at {h:g} months {r['auc']:.3f}{ci}."
            else:
                text += f" {cohort.capitalize()}: time-dependent AUC not computed: {t.auc_note}"
            tables[f"calibration{sfx}"] = t.calibration
            figures[f"calibration{sfx}"] = calibration_figure(t.calibration, h, self.name)
            dc = t.decision_curve
            if dc is not None:
                tables[f"decision_curve{sfx}"] = dc.summary
                figures[f"decision_curve{sfx}"], ax = new_figure((4.8, 3.6))
                plot_survival_dca(dc, ax=ax, labels={"model": f"nomogram, risk by {h:g} months"})
                ax.set_title(cohort, fontsize=9)
                text += (f" The decision curve is for an event by {h:g} months among all {dc.n} {cohort} patients: "
                         "net benefit from the Kaplan-Meier risk by then among test-positive patients, so patients "
                         "censored earlier count up to their censoring (Vickers et al. 2008).")
                blank = dc.table.loc[dc.table["model"].isna(), "threshold"]
                if blank.size:
                    text += (f" Left blank at thresholds {blank.min():g}-{blank.max():g}, where every test-positive "
                             f"patient's follow-up (event or censoring) ends before {h:g} months (undefined in "
                             "dcurves).")
            else:
                text += f" Decision curve not drawn: {t.dca_note}."
        return Section(*key_title, text=text, tables=tables, figures=figures)


def evaluate_nomogram(cox: CoxResult, train: pd.DataFrame, test: pd.DataFrame, time: str, event: str,
                      horizon: float, name: str, cohort: str = "testing") -> NomogramTest:
    """Risk groups, time-dependent AUC (bootstrap CI), calibration and decision curve on the
    patients of ``test`` (one cohort outside training)."""
    lp = cox.predict_risk(test)
    cut = float(np.median(cox.predict_risk(train)))
    km = KmCurves.of(test[time], test[event], np.where(lp > cut, "high risk", "low risk"),
                     f"{name.upper()} of {cohort} patients by nomogram risk (training median)")
    surv_h = cox.predict_survival(test, horizon)
    tdauc, auc_note = None, ""
    try:
        tdauc = time_dependent_auc(test[time], test[event], lp, [horizon], train_time=train[time],
                                   train_event=train[event], n_boot=TD_AUC_BOOTSTRAP, random_state=0).summary
    except DataError as exc:
        auc_note = exc.problem
    cal = survival_calibration(test[time], test[event], np.clip(surv_h, 1e-6, 1 - 1e-6), horizon,
                               groups=min(5, max(2, len(test) // 10)))
    dca, dca_note = None, ""
    try:
        dca = survival_net_benefit(test[time].to_numpy(float), test[event].to_numpy(int), 1 - surv_h, horizon,
                                   THRESHOLDS)
    except DataError as exc:
        dca_note = exc.message
    return NomogramTest(km=km, time_dependent_auc=tdauc, calibration=cal.summary, decision_curve=dca,
                        auc_note=auc_note, dca_note=dca_note)


def fit_nomogram(df: pd.DataFrame, time: str | None, event: str | None, name: str, settings: NomogramSettings,
                 seed: int) -> NomogramFit:
    """Screen, fit and (with >= 10 testing patients and >= 2 events) evaluate one endpoint's nomogram.

    Raises DataError when the survival columns are unset or absent, or with fewer than 5
    training events.
    """
    if not (time and event):
        raise DataError(f"survival.{name}_time/{name}_event not configured")
    reason = require_columns(df, [time, event])
    if reason:
        raise DataError(reason)
    h = settings.horizon_months
    clin = encode(df, [c for c in settings.candidates if c in df.columns and df[c].notna().any()])
    base = ["radscore"] + (["immunoscore"] if "immunoscore" in df and df["immunoscore"].notna().any() else [])
    data = pd.concat([df[["patient_id", "cohort", time, event, *base]].reset_index(drop=True),
                      clin.reset_index(drop=True)], axis=1).dropna()
    train = data[data["cohort"] == "training"]
    if train[event].sum() < 5:
        raise DataError(f"fewer than 5 {name.upper()} events among training patients")
    screened = lasso_screen(train[clin.columns], train[time], train[event], seed)
    covs = base + screened
    cox = cox_multivariate(train, time, event, covs)
    coef = cox.table.set_index("covariate")["coef"].reindex(covs)
    baseline = cox.model.baseline_survival_
    tests = {}
    for cohort in cohort_order(data["cohort"]):
        test = data[data["cohort"] == cohort]
        if cohort != "training" and len(test) >= 10 and test[event].sum() >= 2:
            tests[cohort] = evaluate_nomogram(cox, train, test, time, event, h, name, cohort)
    return NomogramFit(
        name=name, candidates=tuple(clin.columns), screened=tuple(screened), covariates=tuple(covs), cox=cox,
        scales=nomogram_scales(coef, pd.DataFrame({"low": train[covs].quantile(0.01),
                                                   "high": train[covs].quantile(0.99)})),
        s0=float(np.interp(h, baseline.index.to_numpy(), baseline.iloc[:, 0].to_numpy())),
        # lifelines centres the baseline at the training means, so S = s0 ** exp(lp - lp_mean)
        lp_mean=float((train[covs].mean() * coef).sum()), horizon=h,
        tests=tests)


@dataclass(frozen=True)
class SerumMarkers:
    """AUC of the Radscore and each serum marker for the endpoint, and their Spearman matrix."""

    auc: pd.DataFrame
    spearman: pd.DataFrame
    positive_name: str

    def section(self) -> Section:
        fig, ax = new_figure((4.8, 4.2))
        corr = self.spearman
        im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(len(corr)), corr.columns, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(corr)), corr.columns, fontsize=7)
        fig.colorbar(im, ax=ax, label="Spearman rho")
        fig.tight_layout()
        text = ("AUC of each marker as measured (higher value = more likely "
                f"{self.positive_name}; an AUC below 0.5 means the reverse), all baseline patients with the marker.")
        return Section(*SERUM, text=text, figures={"correlation": fig},
                       tables={"auc": self.auc, "spearman": corr.rename_axis("variable").reset_index()})


def serum_markers(df: pd.DataFrame, settings: NomogramSettings, endpoint: EndpointSettings) -> SerumMarkers:
    """Serum markers against the endpoint; DataError when none is in the clinical table."""
    y_col = endpoint.column
    markers = [m for m in settings.serum_markers if m in df.columns and df[m].notna().any()]
    if not markers or y_col not in df:
        raise DataError(f"none of the serum markers {settings.serum_markers} in the clinical table")
    rows = [auc_row(df[y_col], df["radscore"], "Radscore")] + [auc_row(df[y_col], df[m], m) for m in markers]
    return SerumMarkers(auc=pd.DataFrame(rows), spearman=df[["radscore", *markers]].corr(method="spearman"),
                        positive_name=endpoint.positive_name)


@dataclass(frozen=True)
class NomogramResult:
    """The OS and PFS nomograms and the serum markers, each computed or skipped with the reason."""

    os: NomogramFit | Skipped
    pfs: NomogramFit | Skipped
    serum: SerumMarkers | Skipped

    def sections(self) -> list[Section]:
        return [self.os.section(), self.pfs.section(), self.serum.section()]


def compute(ctx: AnalysisContext) -> NomogramResult:
    """Both nomograms (with the Immunoscore when its densities exist) and the serum markers."""
    s, surv = ctx.settings.nomogram, ctx.survival
    df = patient_table(ctx, "baseline")
    # conventional PET measures (SUVmax, MTV: the mCRC seed's clinical model) come from the features
    pet = [c for c in s.candidates if c.startswith(CONVENTIONAL_PREFIX) and c in ctx.features and c not in df]
    if pet:
        base = patient_rows(ctx.features, rule="primary", timepoint="baseline")
        df = df.merge(base[["patient_id", *pet]], on="patient_id", how="left")
    if require_columns(df, ctx.settings.immunoscore.columns) is None:
        df, _ = add_immunoscore(df, ctx.settings.immunoscore)
    return NomogramResult(
        os=attempt(OS, fit_nomogram, df, surv.os_time, surv.os_event, "os", s, ctx.seed),
        pfs=attempt(PFS, fit_nomogram, df, surv.pfs_time, surv.pfs_event, "pfs", s, ctx.seed),
        serum=attempt(SERUM, serum_markers, df, s, ctx.endpoint))
