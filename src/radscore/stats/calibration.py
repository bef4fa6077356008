"""Calibration of predicted probabilities: curves, slope/intercept, Brier, Hosmer-Lemeshow.

References
----------
Hosmer DW, Lemeshow S. Applied Logistic Regression, 2nd ed. Wiley 2000, section 5.2.2.
Cox DR. Two further applications of a model for binary regression. Biometrika 1958;45:562.
Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019, ch. 15 (calibration
in-the-large via an offset model, calibration slope).
Van Calster B et al. Calibration: the Achilles heel of predictive analytics. BMC Med
2019;17:230.
Brier GW. Verification of forecasts expressed in terms of probability. Mon Weather Rev
1950;78:1-3.
Wilson EB. Probable inference... JASA 1927;22:209-212.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.errors import DataError
from radscore.stats._base import Result, as_binary, as_probability, check_alpha

logger = logging.getLogger(__name__)

_EPS = 1e-12  # keeps logit finite for probabilities of exactly 0 or 1


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _quantile_groups(prob: np.ndarray, groups: int) -> np.ndarray:
    """Group index per patient: cut at the quantiles of ``prob`` (ties stay together).

    Same rule as R ResourceSelection::hoslem.test, ``cut(prob, quantile(prob, 0:g/g),
    include.lowest=TRUE)``; duplicated quantiles merge groups.
    """
    breaks = np.unique(np.quantile(prob, np.linspace(0, 1, groups + 1)))
    # right-closed intervals (a, b], the first one closed on the left too.
    return np.clip(np.searchsorted(breaks, prob, side="left") - 1, 0, len(breaks) - 2)


@dataclasses.dataclass(frozen=True)
class HosmerLemeshowResult(Result):
    """Hosmer-Lemeshow goodness-of-fit test.

    Attributes
    ----------
    statistic : float
        sum over groups of (O - E)^2 / (E (1 - E / n_g)).
    df : int
        groups - 2.
    p_value : float
        Upper tail of chi-square(df).
    groups : int
        Groups actually formed (fewer than asked when quantiles tie).
    table : DataFrame
        group, n, observed, expected, mean_prob.
    """

    statistic: float
    df: int
    p_value: float
    groups: int
    table: pd.DataFrame = dataclasses.field(repr=False, compare=False)


def hosmer_lemeshow(y, prob, groups: int = 10) -> HosmerLemeshowResult:
    """Hosmer-Lemeshow test with ``groups`` quantile groups of predicted risk.

    Hosmer & Lemeshow 2000, eq. 5.7 (C-hat); grouping as R ResourceSelection::hoslem.test.
    """
    yy = as_binary(y)
    p = as_probability(prob, "prob", yy.size)
    if groups < 3:
        raise DataError(f"groups={groups}: the test needs at least 3 groups (df = groups - 2).", fix="Use 10.")
    g = _quantile_groups(p, groups)
    k = int(g.max()) + 1
    if k < 3:
        raise DataError("fewer than 3 distinct risk groups could be formed.",
                        fix="The predictions take too few distinct values for this test.")
    if k < groups:
        logger.info("hosmer_lemeshow: %d groups formed instead of %d (tied quantiles)", k, groups)
    n = np.bincount(g, minlength=k).astype(float)
    obs = np.bincount(g, weights=yy, minlength=k)
    exp = np.bincount(g, weights=p, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (obs - exp) ** 2 / (exp * (1 - exp / n))
    terms = np.where(np.isfinite(terms), terms, 0.0)  # a group with E = 0 or E = n adds nothing
    stat = float(terms.sum())
    df = k - 2
    with np.errstate(divide="ignore", invalid="ignore"):  # a group no prediction falls in: mean NaN
        mean_prob = exp / n
    table = pd.DataFrame({"group": np.arange(1, k + 1), "n": n.astype(int), "observed": obs,
                          "expected": exp, "mean_prob": mean_prob})
    return HosmerLemeshowResult(statistic=stat, df=df, p_value=float(sps.chi2.sf(stat, df)), groups=k,
                                table=table)


@dataclasses.dataclass(frozen=True)
class CalibrationResult(Result):
    """Calibration of predicted probabilities.

    Attributes
    ----------
    intercept : float
        Calibration-in-the-large: a in logit P(y) = a + logit(p) (offset model); 0 is ideal.
    intercept_ci_low, intercept_ci_high : float
    slope : float
        b in logit P(y) = a' + b logit(p); 1 is ideal, < 1 means overfitting.
    slope_ci_low, slope_ci_high : float
        Wald intervals.
    brier : float
        mean (p - y)^2.
    brier_scaled : float
        1 - brier / (prev (1 - prev)); 0 = no better than the prevalence.
    binned : DataFrame
        bin, n, mean_predicted, observed, ci_low, ci_high (Wilson).
    smoothed : DataFrame
        predicted, observed: lowess of y on p (frac 2/3, no robustness iterations, as rms
        ``val.prob``).
    note : str
        Why a field is NaN: predictions that separate the outcome perfectly (an apparent,
        in-sample AUC of 1) leave the slope unbounded, so slope and its CI are NaN.
    """

    intercept: float
    intercept_ci_low: float
    intercept_ci_high: float
    slope: float
    slope_ci_low: float
    slope_ci_high: float
    brier: float
    brier_scaled: float
    n: int
    n_pos: int
    binned: pd.DataFrame = dataclasses.field(repr=False, compare=False)
    smoothed: pd.DataFrame = dataclasses.field(repr=False, compare=False)
    note: str = ""


def brier_score(y, prob) -> float:
    """Brier score, mean (prob - y)^2 over patients (Brier 1950); 0 is perfect, and a
    constant prediction at the prevalence scores prev (1 - prev)."""
    yy = as_binary(y, require_both=False)
    p = as_probability(prob, "prob", yy.size)
    return float(np.mean((p - yy) ** 2))


def calibration(y, prob, bins: int = 10, alpha: float = 0.05) -> CalibrationResult:
    """Calibration curve (binned and lowess), logistic recalibration slope and intercept, Brier.

    Parameters
    ----------
    y : array-like of 0/1
    prob : array-like of probabilities
    bins : int
        Quantile bins of the binned curve.
    alpha : float
        For the Wald CIs of slope and intercept and the Wilson CIs of the bins.
    """
    import statsmodels.api as sm
    from statsmodels.nonparametric.smoothers_lowess import lowess
    from statsmodels.stats.proportion import proportion_confint

    alpha = check_alpha(alpha)
    yy = as_binary(y)
    p = as_probability(prob, "prob", yy.size)
    lp = _logit(p)
    q = sps.norm.ppf(1 - alpha / 2)
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    note = ""
    try:
        # np.errstate: predictions of ~0 or ~1 (Gaussian NB's, a forest's) give logits of hundreds, whose
        # exp overflows inside statsmodels' IRLS; its link clips them, the fit is unaffected
        with warnings.catch_warnings(), np.errstate(over="ignore"):
            # statsmodels only warns and returns the last iterate (a slope of ~20-40)
            warnings.simplefilter("error", PerfectSeparationWarning)
            try:
                slope_fit = sm.GLM(yy, sm.add_constant(lp), family=sm.families.Binomial()).fit()
                b, se_b = float(slope_fit.params[1]), float(slope_fit.bse[1])
            except PerfectSeparationWarning:
                b = se_b = float("nan")
                note = "the predictions separate the outcomes perfectly: the calibration slope is unbounded"
            # an intercept with the logit as offset cannot separate two classes
            citl_fit = sm.GLM(yy, np.ones((yy.size, 1)), family=sm.families.Binomial(), offset=lp).fit()
    except Exception as exc:
        raise DataError(f"logistic recalibration failed ({exc}).",
                        fix="check that the probabilities vary between patients.") from None
    a, se_a = float(citl_fit.params[0]), float(citl_fit.bse[0])
    brier = float(np.mean((p - yy) ** 2))
    prev = yy.mean()
    g = _quantile_groups(p, bins)
    rows = []
    for k in range(int(g.max()) + 1):
        m = g == k
        cnt, pos = int(m.sum()), int(yy[m].sum())
        if cnt == 0:  # interpolated quantile breaks can bound an interval holding no patient
            continue
        lo, hi = proportion_confint(pos, cnt, alpha=alpha, method="wilson")
        rows.append({"bin": k + 1, "n": cnt, "mean_predicted": float(p[m].mean()),
                     "observed": pos / cnt, "ci_low": float(lo), "ci_high": float(hi)})
    sm_curve = lowess(yy.astype(float), p, frac=2 / 3, it=0, return_sorted=True)
    return CalibrationResult(
        intercept=a, intercept_ci_low=a - q * se_a, intercept_ci_high=a + q * se_a,
        slope=b, slope_ci_low=b - q * se_b, slope_ci_high=b + q * se_b,
        brier=brier, brier_scaled=float(1 - brier / (prev * (1 - prev))),
        n=int(yy.size), n_pos=int(yy.sum()),
        binned=pd.DataFrame(rows),
        smoothed=pd.DataFrame({"predicted": sm_curve[:, 0], "observed": sm_curve[:, 1]}),
        note=note,
    )
