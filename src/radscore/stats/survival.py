"""Survival: Kaplan-Meier, log-rank, Harrell's C, time-dependent AUC, calibration at a horizon.

Estimation is delegated to lifelines (Kaplan-Meier, log-rank, concordance) and
scikit-survival (cumulative/dynamic AUC); this module only validates inputs and returns
frozen results with tidy tables. Cox models are in :mod:`radscore.stats.cox`.

References
----------
Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. JASA 1958;53:457.
Greenwood M. The natural duration of cancer. Rep Public Health Med Subj 1926;33:1-26.
Brookmeyer R, Crowley J. A confidence interval for the median survival time. Biometrics
1982;38:29-41.
Mantel N. Evaluation of survival data and two new rank order statistics. Cancer Chemother
Rep 1966;50:163-170.
Harrell FE et al. Evaluating the yield of medical tests. JAMA 1982;247:2543-2546.
Uno H et al. Evaluating prediction rules for t-year survivors with censored regression
models. JASA 2007;102:527-537; Hung H, Chiang CT. Estimation methods for time-dependent AUC
models with survival data. Can J Stat 2010;38:8-26.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.errors import DataError
from radscore.stats._base import Result, as_float, check_alpha
from radscore.stats._survival_base import check_groups, check_survival

logger = logging.getLogger(__name__)


def _nice_times(tmax: float, n: int = 6) -> np.ndarray:
    """Round risk-table times 0, step, 2 step, ... <= tmax, step in {1, 2, 2.5, 5} x 10^k."""
    if tmax <= 0:
        return np.array([0.0])
    raw = tmax / (n - 1)
    mag = 10 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10)
    return np.arange(0, tmax + 1e-9 * tmax, step)


def _quantile_time(times: np.ndarray, surv: np.ndarray, q: float = 0.5) -> float:
    """First time the step curve reaches ``q`` (R survival's rule).

    Where the curve is exactly ``q`` on a flat stretch, R returns the midpoint of that
    stretch; lifelines returns its start, hence this small helper.
    """
    tol = np.sqrt(np.finfo(float).eps)
    hit = np.flatnonzero(surv <= q + tol)
    if hit.size == 0:
        return float("nan")
    i = hit[0]
    if abs(surv[i] - q) < tol and i + 1 < times.size:
        return float((times[i] + times[i + 1]) / 2)
    return float(times[i])


def _km_table(t: np.ndarray, e: np.ndarray, alpha: float, ci: str) -> pd.DataFrame:
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=alpha).fit(t, e)
    et = kmf.event_table
    et = et[(et["observed"] > 0) | (et.index == et.index.max())]
    times = et.index.to_numpy(dtype=float)
    s = kmf.survival_function_at_times(times).to_numpy()
    d = et["observed"].to_numpy(float)
    r = et["at_risk"].to_numpy(float)
    # Greenwood variance of log S(t); d == r makes S = 0 where it is undefined.
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(np.where(r > d, d / (r * (r - d)), np.inf))
    se_log = np.sqrt(gw)
    z = sps.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if ci == "log":  # R survfit default conf.type="log"
            lo, hi = s * np.exp(-z * se_log), np.minimum(1.0, s * np.exp(z * se_log))
        elif ci == "log-log":  # lifelines default, Kalbfleisch & Prentice 1980
            theta = se_log / np.log(s)
            lo, hi = s ** np.exp(-z * theta), s ** np.exp(z * theta)
        else:
            raise DataError(f"unknown ci {ci!r}.", fix='Use "log" (R default) or "log-log" (lifelines default).')
    out = pd.DataFrame(
        {
            "time": times,
            "n_at_risk": r.astype(int),
            "n_event": d.astype(int),
            "survival": s,
            "se": s * se_log,
            "ci_low": np.nan_to_num(lo, nan=0.0),
            "ci_high": np.nan_to_num(hi, nan=0.0),
        }
    )
    start = pd.DataFrame([{"time": 0.0, "n_at_risk": t.size, "n_event": 0, "survival": 1.0, "se": 0.0,
                           "ci_low": 1.0, "ci_high": 1.0}])
    if times[0] > 0:
        out = pd.concat([start, out], ignore_index=True)
    return out


@dataclasses.dataclass(frozen=True)
class KaplanMeierResult(Result):
    """Kaplan-Meier estimates, per group.

    Attributes
    ----------
    table : DataFrame
        group, time, n_at_risk, n_event, survival, se (Greenwood), ci_low, ci_high; one row
        per event time (plus time 0 and the last follow-up).
    medians : DataFrame
        group, n, events, median, ci_low, ci_high (Brookmeyer-Crowley: where the CI of
        S(t) crosses 0.5, as R survfit).
    at_risk : DataFrame
        group, time, n_at_risk at ``risk_times`` (for the risk table under a KM plot).
    ci : str
        Transformation used for the CI of S(t).
    """

    table: pd.DataFrame = dataclasses.field(repr=False)
    medians: pd.DataFrame
    at_risk: pd.DataFrame = dataclasses.field(repr=False)
    ci: str
    alpha: float

    @property
    def summary(self) -> pd.DataFrame:
        return self.medians

    def survival_at(self, times: Sequence[float]) -> pd.DataFrame:
        """S(t), se and CI at given times (step function, last value carried forward)."""
        rows = []
        for g, tab in self.table.groupby("group", sort=False):
            idx = np.searchsorted(tab["time"].to_numpy(), np.asarray(times, float), side="right") - 1
            sub = tab.iloc[idx][["survival", "se", "ci_low", "ci_high"]].reset_index(drop=True)
            sub.insert(0, "time", list(times))
            sub.insert(0, "group", g)
            rows.append(sub)
        return pd.concat(rows, ignore_index=True)


def kaplan_meier(
    time,
    event,
    groups=None,
    alpha: float = 0.05,
    ci: str = "log",
    risk_times: Sequence[float] | None = None,
) -> KaplanMeierResult:
    """Kaplan-Meier survival with Greenwood CIs, medians with CI and numbers at risk.

    Parameters
    ----------
    time, event : array-like
        Follow-up time and event indicator (1 = event, 0 = censored).
    groups : array-like, optional
        Group label per patient; one curve per group (sorted labels), else one curve "all".
    alpha : float
    ci : {"log", "log-log"}
        CI of S(t): ``"log"`` = R survfit's default, ``"log-log"`` = lifelines' default.
    risk_times : sequence of float, optional
        Times for the numbers-at-risk table (default: about 6 round values up to the last
        follow-up).

    Returns
    -------
    KaplanMeierResult
    """
    alpha = check_alpha(alpha)
    t, e = check_survival(time, event)
    g = np.full(t.size, "all", dtype=object) if groups is None else check_groups(groups, t.size)
    if risk_times is None:
        risk_times = _nice_times(float(t.max()))
    risk_times = np.asarray(risk_times, float)
    tables, medians, risks = [], [], []
    for level in sorted(pd.unique(g), key=str):
        m = g == level
        if e[m].sum() == 0:
            logger.info("kaplan_meier: group %s has no events", level)
        tab = _km_table(t[m], e[m], alpha, ci)
        tab.insert(0, "group", level)
        tables.append(tab)
        tt, ss = tab["time"].to_numpy(), tab["survival"].to_numpy()
        medians.append(
            {
                "group": level,
                "n": int(m.sum()),
                "events": int(e[m].sum()),
                "median": _quantile_time(tt, ss),
                # Brookmeyer-Crowley: the lower curve reaches 0.5 first (lower limit).
                "ci_low": _quantile_time(tt, tab["ci_low"].to_numpy()),
                "ci_high": _quantile_time(tt, tab["ci_high"].to_numpy()),
            }
        )
        risks.append(pd.DataFrame({"group": level, "time": risk_times,
                                   "n_at_risk": [int(np.sum(t[m] >= rt)) for rt in risk_times]}))
    return KaplanMeierResult(
        table=pd.concat(tables, ignore_index=True),
        medians=pd.DataFrame(medians),
        at_risk=pd.concat(risks, ignore_index=True),
        ci=ci,
        alpha=alpha,
    )


@dataclasses.dataclass(frozen=True)
class LogRankResult(Result):
    """Log-rank test of equal survival across k groups (chi-square, k - 1 df)."""

    statistic: float
    df: int
    p_value: float
    n: int
    n_groups: int


def logrank_test(time, event, groups) -> LogRankResult:
    """Log-rank test for two or more groups (lifelines ``multivariate_logrank_test``).

    Mantel 1966; Peto & Peto 1972. Agrees with R ``survdiff(Surv(time, event) ~ group)``.
    """
    from lifelines.statistics import multivariate_logrank_test

    t, e = check_survival(time, event)
    g = check_groups(groups, t.size)
    k = len(pd.unique(g))
    if k < 2:
        raise DataError("log-rank test needs at least two groups; all patients are in one.",
                        fix="Check the grouping variable.")
    res = multivariate_logrank_test(t, g, e)
    return LogRankResult(statistic=float(res.test_statistic), df=int(res.degrees_of_freedom),
                         p_value=float(res.p_value), n=int(t.size), n_groups=int(k))


@dataclasses.dataclass(frozen=True)
class ConcordanceResult(Result):
    """Harrell's C with a percentile bootstrap CI."""

    c_index: float
    ci_low: float
    ci_high: float
    n: int
    events: int
    n_boot: int


def harrell_c(time, event, risk, alpha: float = 0.05, n_boot: int = 1000,
              random_state: int | None = None) -> ConcordanceResult:
    """Harrell's concordance index of a risk score (higher = earlier event).

    Parameters
    ----------
    time, event : array-like
    risk : array-like
        Risk score, e.g. the Radscore or a Cox linear predictor (higher = worse).
    n_boot : int
        Bootstrap resamples for the percentile CI (0: no CI, NaN limits).

    Notes
    -----
    Harrell et al. 1982; computed by lifelines ``concordance_index`` (ties in risk count
    one half, as R ``survival::concordance``).
    """
    from lifelines.utils import concordance_index

    alpha = check_alpha(alpha)
    t, e = check_survival(time, event)
    r = as_float(risk, "risk", t.size)
    c = float(concordance_index(t, -r, e))
    lo = hi = float("nan")
    if n_boot > 0:
        rng = np.random.default_rng(random_state)
        boots = []
        for _ in range(n_boot):
            idx = rng.integers(0, t.size, t.size)
            if e[idx].sum() == 0:
                continue
            try:
                boots.append(concordance_index(t[idx], -r[idx], e[idx]))
            except ZeroDivisionError:  # no admissible pairs in this resample
                continue
        lo, hi = (float(v) for v in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    return ConcordanceResult(c_index=c, ci_low=lo, ci_high=hi, n=int(t.size), events=int(e.sum()),
                             n_boot=int(n_boot))


@dataclasses.dataclass(frozen=True)
class TimeDependentAucResult(Result):
    """Cumulative/dynamic AUC at each horizon and its integrated mean."""

    table: pd.DataFrame
    mean_auc: float

    @property
    def summary(self) -> pd.DataFrame:
        return self.table


def time_dependent_auc(time, event, risk, horizons: Sequence[float], train_time=None,
                       train_event=None, *, n_boot: int = 0, alpha: float = 0.05,
                       random_state: int = 0) -> TimeDependentAucResult:
    """Cumulative/dynamic ROC AUC at horizons (scikit-survival ``cumulative_dynamic_auc``).

    Cases are patients with an event by t, controls those still event-free at t; IPCW
    weights (Uno 2007, Hung & Chiang 2010) use the censoring distribution of the training
    cohort (``train_time``/``train_event``) or, if absent, of the evaluated cohort.
    Horizons must lie inside the follow-up of both cohorts.

    With ``n_boot`` > 0 the table gains ``ci_low``/``ci_high``: the percentile interval of the
    AUC over ``n_boot`` patient resamples of the evaluated cohort (the censoring distribution
    kept as fitted; resamples without a case or a control at a horizon are skipped and counted
    in ``boot_used``). scikit-survival gives no interval; R's timeROC uses an iid-representation
    variance, the bootstrap is the usual alternative (e.g. Blanche et al. 2013, section 4).
    """
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    t, e = check_survival(time, event)
    r = as_float(risk, "risk", t.size)
    if train_time is None:
        tt, te = t, e
    else:
        tt, te = check_survival(train_time, train_event)
    h = np.atleast_1d(np.asarray(horizons, float))
    lo, hi = t[e == 1].min() if e.any() else 0, min(t.max(), tt.max())
    bad = h[(h < lo) | (h >= hi)]
    if bad.size:
        raise DataError(f"horizons {bad.tolist()} are outside the follow-up ({lo:g} to {hi:g}).",
                        fix="Choose horizons after the first event and before the last follow-up.")
    # scikit-survival evaluates the training censoring distribution G at every evaluated
    # patient's own time and refuses times at or beyond the end of the training follow-up (G
    # undefined there, or 0 when the last training time is censored). Patients followed past
    # the last horizon are controls at every horizon, and controls carry no IPCW weight
    # (only cases are weighted, by 1/G at their event time): cutting their time to a point
    # between the last horizon and the training maximum changes no AUC.
    cap = (h.max() + tt.max()) / 2.0
    t_eval = np.minimum(t, cap)
    train_surv = Surv.from_arrays(te.astype(bool), tt)
    auc, mean_auc = cumulative_dynamic_auc(train_surv, Surv.from_arrays(e.astype(bool), t_eval), r, h)
    table = pd.DataFrame({"horizon": h, "auc": np.asarray(auc, float),
                          "cases": [int(np.sum((t <= x) & (e == 1))) for x in h],
                          "controls": [int(np.sum(t > x)) for x in h]})
    if n_boot:
        rng = np.random.default_rng(random_state)
        boots = np.full((n_boot, h.size), np.nan)
        for b in range(n_boot):
            idx = rng.integers(0, t.size, t.size)
            for k, x in enumerate(h):
                # a resample needs a case and a control at the horizon for the AUC to exist
                if ((t[idx] <= x) & (e[idx] == 1)).any() and (t[idx] > x).any():
                    boots[b, k] = cumulative_dynamic_auc(train_surv, Surv.from_arrays(e[idx].astype(bool),
                                                                                      t_eval[idx]), r[idx], [x])[0][0]
        table["ci_low"] = np.nanquantile(boots, alpha / 2, axis=0)
        table["ci_high"] = np.nanquantile(boots, 1 - alpha / 2, axis=0)
        table["boot_used"] = np.isfinite(boots).sum(axis=0)
    return TimeDependentAucResult(table=table, mean_auc=float(mean_auc))


@dataclasses.dataclass(frozen=True)
class SurvivalCalibrationResult(Result):
    """Predicted vs Kaplan-Meier observed survival at a horizon, by risk group."""

    table: pd.DataFrame
    horizon: float
    ici: float  # mean |predicted - observed| across groups, weighted by group size

    @property
    def summary(self) -> pd.DataFrame:
        return self.table


def survival_calibration(time, event, predicted_survival, horizon: float, groups: int = 5,
                         alpha: float = 0.05) -> SurvivalCalibrationResult:
    """Calibration at a horizon: mean predicted S(horizon) vs KM observed, per quantile group.

    Parameters
    ----------
    predicted_survival : array-like
        Each patient's predicted probability of being event-free at ``horizon``.
    groups : int
        Number of quantile groups of predicted survival.

    Notes
    -----
    The grouped comparison of D'Agostino & Nam (Handbook of Statistics 2004;23:1-25); the
    observed value is the Kaplan-Meier estimate in the group (log CI, as R survfit).
    """
    from radscore.stats._base import as_probability

    t, e = check_survival(time, event)
    p = as_probability(predicted_survival, "predicted_survival", t.size)
    if groups < 2 or groups > t.size:
        raise DataError(f"groups={groups} must be between 2 and the number of patients.", fix="Use e.g. 5.")
    bins = pd.qcut(pd.Series(p).rank(method="first"), groups, labels=False).to_numpy()
    rows = []
    for b in range(groups):
        m = bins == b
        tab = _km_table(t[m], e[m], alpha, "log") if e[m].any() else None
        if tab is None:
            obs, lo, hi = 1.0, float("nan"), float("nan")
        else:
            i = np.searchsorted(tab["time"].to_numpy(), horizon, side="right") - 1
            obs, lo, hi = (float(tab[c].iloc[i]) for c in ("survival", "ci_low", "ci_high"))
        rows.append({"group": b + 1, "n": int(m.sum()), "events": int(e[m & (t <= horizon)].sum()),
                     "predicted": float(p[m].mean()), "observed": obs, "ci_low": lo, "ci_high": hi})
    table = pd.DataFrame(rows)
    ici = float(np.average(np.abs(table["predicted"] - table["observed"]), weights=table["n"]))
    return SurvivalCalibrationResult(table=table, horizon=float(horizon), ici=ici)
