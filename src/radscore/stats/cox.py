"""Cox proportional-hazards models: univariate, multivariate, univariate-then-multivariate.

Fitting is lifelines ``CoxPHFitter`` (Efron ties, as R ``coxph`` default); the
proportional-hazards check is lifelines' Schoenfeld-residual test. Here: validation,
complete cases, categorical encoding and tidy HR tables.

References
----------
Cox DR. Regression models and life-tables. JRSS B 1972;34:187-220.
Efron B. The efficiency of Cox's likelihood function for censored data. JASA 1977;72:557-565.
Grambsch PM, Therneau TM. Proportional hazards tests and diagnostics based on weighted
residuals. Biometrika 1994;81:515-526.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from radscore.errors import DataError
from radscore.stats._base import Result, check_alpha
from radscore.stats._design import check_columns, complete_cases, design, level_counts
from radscore.stats._survival_base import check_survival

logger = logging.getLogger(__name__)

HR_COLUMNS = ["covariate", "level", "reference", "coef", "se", "hr", "ci_low", "ci_high", "z", "p_value"]


@dataclasses.dataclass(frozen=True)
class CoxResult(Result):
    """A fitted Cox model.

    Attributes
    ----------
    table : DataFrame
        One row per model term: covariate, level, reference, coef, se, hr, ci_low, ci_high
        (Wald, exp(coef +- z se)), z, p_value, ph_p_value (Schoenfeld test per term),
        separated (the coefficient may be infinite: R ``coxph``'s "Loglik converged before
        variable" check; its HR and CI are not estimable).
    n, events : int
        Complete cases used and their events.
    concordance : float
        Harrell's C of the linear predictor on the fitted data.
    log_likelihood : float
    ph_global_p : float
        Smallest per-term PH p-value, Bonferroni-adjusted (a conservative global flag).
    model : lifelines CoxPHFitter
        The fitted model (for predictions); not part of equality or the summary.
    """

    table: pd.DataFrame
    n: int
    events: int
    concordance: float
    log_likelihood: float
    ph_global_p: float
    model: Any = dataclasses.field(repr=False, compare=False)
    terms: tuple[tuple[str, str | None, str], ...] = ()  # (covariate, level, model column)

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    def _design(self, df: pd.DataFrame) -> pd.DataFrame:
        check_columns(df, sorted({c for c, _, _ in self.terms}))
        cols = {}
        for cov, level, col in self.terms:
            s = df[cov]
            cols[col] = (s.astype(str) == level).astype(float) if level is not None else s.astype(float)
        X = pd.DataFrame(cols, index=df.index)
        if X.isna().any().any():
            raise DataError("covariates have missing values.", fix="Drop or impute those patients first.")
        return X

    def predict_risk(self, df: pd.DataFrame) -> np.ndarray:
        """Linear predictor (log partial hazard) for new patients; higher = worse."""
        return np.asarray(self.model.predict_log_partial_hazard(self._design(df)), float)

    def predict_survival(self, df: pd.DataFrame, horizon: float) -> np.ndarray:
        """Predicted probability of being event-free at ``horizon`` (Breslow baseline)."""
        sf = self.model.predict_survival_function(self._design(df), times=[float(horizon)])
        return np.asarray(sf.iloc[0], float)


def _ph_global(table: pd.DataFrame) -> float:
    """The model's proportional-hazards p-value: the smallest term's, Bonferroni over the terms."""
    return float(min(1.0, table["ph_p_value"].min() * len(table)))


def _fit(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str], alpha: float,
         ph_transform: str, warn_ph: bool = True) -> CoxResult:
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    check_columns(df, [duration, event, *covariates])
    data = complete_cases(df, [duration, event, *covariates])
    dropped = len(df) - len(data)
    if dropped:
        logger.info("Cox %s: %d patients with missing values left out", list(covariates), dropped)
    t, e = check_survival(data[duration], data[event])
    X, info = design(data, covariates)
    if e.sum() <= X.shape[1]:
        raise DataError(f"{int(e.sum())} events cannot support {X.shape[1]} Cox terms.",
                        fix="Use fewer covariates or a larger cohort.")
    frame = X.assign(__time=t, __event=e)
    cph = CoxPHFitter(alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines convergence chatter; checked below
        try:
            # lifelines' default step tolerance stops ~3e-6 short of the maximum; R coxph
            # iterates to the optimum, so tighten it (agrees with coxph to 8+ digits on lung).
            cph.fit(frame, "__time", "__event", fit_options={"precision": 1e-12, "max_steps": 500})
        except Exception as exc:  # lifelines raises ConvergenceError and numpy errors
            raise DataError(f"the Cox model of {list(covariates)} did not converge ({exc}).",
                            fix="Check for separation (a level with no events) or collinear covariates.") from None
        ph = proportional_hazard_test(cph, frame, time_transform=ph_transform).summary
    infinite = _infinite_terms(cph, frame)
    s = cph.summary  # built anew on every access (twice: lifelines' __getattr__ does hasattr, then getattr)
    z_a = s.columns[s.columns.str.startswith("coef lower")][0]
    z_b = s.columns[s.columns.str.startswith("coef upper")][0]
    rows = []
    for term in info:
        c = term["column"]
        with np.errstate(over="ignore"):  # a separated term's upper limit is exp(~1e4) = inf, as in R
            ci = np.exp([s.loc[c, z_a], s.loc[c, z_b]])
        rows.append({
            "covariate": term["covariate"], "level": term["level"], "reference": term["reference"],
            "coef": float(s.loc[c, "coef"]), "se": float(s.loc[c, "se(coef)"]),
            "hr": float(np.exp(s.loc[c, "coef"])),
            "ci_low": float(ci[0]), "ci_high": float(ci[1]),
            "z": float(s.loc[c, "z"]), "p_value": float(s.loc[c, "p"]),
            "ph_p_value": float(ph.loc[c, "p"]), "separated": bool(infinite[c]),
        })
    table = pd.DataFrame(rows)
    if table["separated"].any():
        logger.warning("Cox %s: the likelihood still rises along %s (separation, e.g. no events in one group): "
                       "coefficient may be infinite, HR and CI not estimable", list(covariates),
                       ", ".join(table.loc[table["separated"], "covariate"].astype(str).unique()))
    ph_global = _ph_global(table)
    if warn_ph and ph_global < 0.05:
        logger.warning("Cox %s: proportional hazards doubtful (Schoenfeld p=%.3g)", list(covariates), ph_global)
    return CoxResult(table=table, n=int(len(data)), events=int(e.sum()),
                     concordance=float(cph.concordance_index_), log_likelihood=float(cph.log_likelihood_),
                     ph_global_p=ph_global, model=cph,
                     terms=tuple((t["covariate"], t["level"], t["column"]) for t in info))


def _infinite_terms(cph, frame: pd.DataFrame) -> pd.Series:
    """Terms whose coefficient may be infinite (monotone likelihood), by R ``coxph``'s check.

    At a finite maximum the Newton step left at the estimate is ~0; along a separated term
    the likelihood keeps rising and the step stays ~1 however far the fit went. Flagged, as
    in R's ``coxph.fit``, when ``|step| > eps`` and ``|step| > sqrt(eps) |coef|`` with
    ``eps = 1e-9``. The step is V u from lifelines' Efron score ``u`` and information at
    the fitted coefficients (covariates centred: the partial likelihood ignores a shift).
    """
    d = frame.sort_values("__time", kind="mergesort")  # lifelines' routine assumes times sorted
    X = d[cph.params_.index]
    X = X - X.mean()
    beta = cph.params_.to_numpy()
    hessian, score, _ = cph._get_efron_values_single(X, d["__time"], d["__event"],
                                                     pd.Series(1.0, index=d.index), None, beta)
    step = np.abs(np.linalg.lstsq(-np.atleast_2d(hessian), score, rcond=None)[0])
    eps = 1e-9
    return pd.Series((step > eps) & (step > np.sqrt(eps) * np.abs(beta)), index=cph.params_.index)


def cox_multivariate(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str],
                     alpha: float = 0.05, ph_transform: str = "km") -> CoxResult:
    """Multivariable Cox model on complete cases.

    Parameters
    ----------
    df : DataFrame
        One row per patient.
    duration, event : str
        Column names of follow-up time and event (1 = event).
    covariates : sequence of str
        Numeric columns enter as is; categorical (object/category/bool) as indicators
        against their first level.
    alpha : float
        1 - level of the HR confidence intervals.
    ph_transform : str
        Time transform of the Schoenfeld test (``"km"`` = R ``cox.zph`` default).
    """
    alpha = check_alpha(alpha)
    if not covariates:
        raise DataError("no covariates given for the Cox model.", fix="Name at least one column.")
    return _fit(df, duration, event, list(covariates), alpha, ph_transform)


def cox_univariate(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str],
                   alpha: float = 0.05, ph_transform: str = "km", warn_ph: bool = True) -> pd.DataFrame:
    """One Cox model per covariate (each on its own complete cases).

    ``warn_ph``: log one warning naming the covariates whose proportional-hazards test has
    p < 0.05 (the table's ph_p_value holds every test); a caller that screens many
    covariates and reports them itself turns it off.

    Returns
    -------
    DataFrame
        The :data:`HR_COLUMNS` plus ph_p_value, n and events, one row per term.
    """
    alpha = check_alpha(alpha)
    parts, doubtful = [], []
    for cov in covariates:
        r = _fit(df, duration, event, [cov], alpha, ph_transform, warn_ph=False)
        parts.append(r.table.assign(n=r.n, events=r.events))
        if _ph_global(r.table) < 0.05:
            doubtful.append(f"{cov} (p={_ph_global(r.table):.3g})")
    if warn_ph and doubtful:
        logger.warning("Cox univariate: proportional hazards doubtful (Schoenfeld) for %s", ", ".join(doubtful))
    return pd.concat(parts, ignore_index=True)


@dataclasses.dataclass(frozen=True)
class CoxStepwiseResult(Result):
    """Univariate screen then multivariable Cox of the covariates with p < threshold."""

    univariate: pd.DataFrame
    selected: tuple[str, ...]
    multivariate: CoxResult | None
    p_threshold: float

    @property
    def summary(self) -> pd.DataFrame:
        """Univariate and multivariable HRs side by side, one row per term."""
        cols = ["covariate", "level", "hr", "ci_low", "ci_high", "p_value", "separated"]
        uni = self.univariate[cols]
        if self.multivariate is None:
            return uni
        multi = self.multivariate.table[cols]
        return uni.merge(multi, on=["covariate", "level"], how="left", suffixes=("_uni", "_multi"))


def cox_stepwise(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str],
                 p_threshold: float = 0.05, alpha: float = 0.05) -> CoxStepwiseResult:
    """Univariate Cox per covariate, then one multivariable model of those with p < threshold.

    A categorical covariate is selected when any of its levels has p < threshold. With no
    covariate selected, ``multivariate`` is None (logged, not an error).
    """
    uni = cox_univariate(df, duration, event, covariates, alpha)
    chosen = [c for c in covariates if (uni.loc[uni["covariate"] == c, "p_value"] < p_threshold).any()]
    if not chosen:
        logger.info("cox_stepwise: no covariate with univariate p < %g", p_threshold)
    multi = cox_multivariate(df, duration, event, chosen, alpha) if chosen else None
    return CoxStepwiseResult(univariate=uni, selected=tuple(chosen), multivariate=multi, p_threshold=p_threshold)


def cox_table(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str],
              p_threshold: float = 0.05, alpha: float = 0.05) -> pd.DataFrame:
    """Association table for OS/PFS (seed Table 2): per level events/patients, univariate
    HR (95% CI, p) and multivariable HR of the covariates with univariate p < threshold."""
    res = cox_stepwise(df, duration, event, covariates, p_threshold, alpha)
    ev = pd.to_numeric(df[event], errors="coerce").fillna(0).to_numpy()
    counts = pd.DataFrame([r for c in covariates for r in level_counts(df, c, ev)])
    return counts.merge(res.summary, on=["covariate", "level"], how="left")
