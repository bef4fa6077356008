"""Discrimination: ROC AUC with DeLong or bootstrap CI, paired DeLong test.

The AUC is the Mann-Whitney probability P(score of a positive > score of a negative),
ties counting one half; a higher score means "more likely positive" (no automatic
direction flip, unlike R pROC's ``direction="auto"``).

scikit-learn gives the AUC but no variance, and no maintained Python package offers the
DeLong variance/covariance, so the fast midrank algorithm of Sun & Xu is written here; it
is checked against R pROC on the aSAH data (tests/stats/test_discrimination.py).

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach. Biometrics
1988;44:837-845.
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under
correlated receiver operating characteristic curves. IEEE Signal Process Lett
2014;21:1389-1393.
Robin X et al. pROC: an open-source package for R and S+ to analyze and compare ROC curves.
BMC Bioinformatics 2011;12:77.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.errors import DataError
from radscore.stats._base import Result, as_binary, as_float, check_alpha

logger = logging.getLogger(__name__)


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong structural components (Sun & Xu 2014, midrank form).

    Parameters
    ----------
    y : (n,) int array of 0/1.
    scores : (k, n) array, one row per model.

    Returns
    -------
    auc : (k,) AUCs.
    v10 : (k, m) placement values of the m positives (fraction of negatives below).
    v01 : (k, n_neg) placement values of the negatives (fraction of positives above).
    """
    pos = scores[:, y == 1]
    neg = scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = sps.rankdata(pos, axis=1)  # midranks within positives
    ty = sps.rankdata(neg, axis=1)  # midranks within negatives
    tz = sps.rankdata(np.concatenate([pos, neg], axis=1), axis=1)  # midranks pooled
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, v10, v01


def _delong_cov(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong covariance matrix S10/m + S01/n (sample covariances, ddof=1)."""
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return s10 / m + s01 / n


@dataclasses.dataclass(frozen=True)
class RocAucResult(Result):
    """ROC AUC with its confidence interval.

    Attributes
    ----------
    auc, ci_low, ci_high : float
        AUC and the (1 - alpha) confidence interval (clipped to [0, 1]).
    p_value : float
        Two-sided Wald test of AUC = 0.5, z = (AUC - 0.5) / se.
    se : float
        Standard error (DeLong, or bootstrap SD).
    n, n_pos : int
        Patients and positives.
    method : str
        ``"delong"`` or ``"bootstrap"``.
    alpha : float
    """

    auc: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    n: int
    n_pos: int
    method: str
    alpha: float


def validate_scores(y, score, name: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """A 0/1 outcome and its finite scores of the same length (shared by the ROC and PR statistics)."""
    yy = as_binary(y)
    ss = as_float(score, name, yy.size)
    return yy, ss


def roc_auc_ci(
    y,
    score,
    alpha: float = 0.05,
    method: Literal["delong", "bootstrap"] = "delong",
    n_boot: int = 2000,
    random_state: int | None = None,
) -> RocAucResult:
    """ROC AUC with DeLong (default) or stratified-bootstrap confidence interval.

    Parameters
    ----------
    y : array-like of 0/1
        Outcome (1 = positive, e.g. responder or event).
    score : array-like of float
        Higher = more likely positive.
    alpha : float
        1 - confidence level.
    method : {"delong", "bootstrap"}
        ``"delong"``: AUC +- z * sqrt(DeLong variance) (DeLong 1988; as R pROC
        ``ci.auc(method="delong")``). ``"bootstrap"``: percentile interval of ``n_boot``
        resamples stratified by outcome (as pROC ``ci.auc(method="bootstrap")``); the
        p-value then uses the bootstrap SD as se.
    n_boot : int
        Bootstrap resamples.
    random_state : int, optional
        Seed for the bootstrap (same seed -> identical result).

    Returns
    -------
    RocAucResult
    """
    alpha = check_alpha(alpha)
    yy, ss = validate_scores(y, score)
    auc_arr, v10, v01 = _delong_components(yy, ss[None, :])
    auc = float(auc_arr[0])
    z = sps.norm.ppf(1 - alpha / 2)
    if method == "delong":
        if v10.shape[1] < 2 or v01.shape[1] < 2:
            raise DataError(
                "the DeLong variance needs at least 2 positives and 2 negatives.",
                fix="Use a larger cohort.",
            )
        se = float(np.sqrt(_delong_cov(v10, v01)[0, 0]))
        lo, hi = auc - z * se, auc + z * se
    elif method == "bootstrap":
        if n_boot < 10:
            raise DataError(f"n_boot={n_boot} is too small.", fix="Use n_boot >= 1000.")
        boots = _bootstrap_aucs(yy, ss[None, :], n_boot, random_state)[:, 0]
        se = float(np.std(boots, ddof=1))
        lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    else:
        raise DataError(f"unknown method {method!r}.", fix='Use "delong" or "bootstrap".')
    p = float(2 * sps.norm.sf(abs(auc - 0.5) / se)) if se > 0 else (1.0 if auc == 0.5 else 0.0)
    return RocAucResult(
        auc=auc,
        ci_low=float(max(0.0, lo)),
        ci_high=float(min(1.0, hi)),
        p_value=p,
        se=se,
        n=int(yy.size),
        n_pos=int(yy.sum()),
        method=method,
        alpha=alpha,
    )


def _bootstrap_aucs(y: np.ndarray, scores: np.ndarray, n_boot: int, random_state) -> np.ndarray:
    """AUCs of ``n_boot`` resamples stratified by class (rows: resamples, cols: models)."""
    rng = np.random.default_rng(random_state)
    pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    out = np.empty((n_boot, scores.shape[0]))
    yb = np.concatenate([np.ones(pos_idx.size, int), np.zeros(neg_idx.size, int)])
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos_idx, pos_idx.size), rng.choice(neg_idx, neg_idx.size)])
        out[b] = _delong_components(yb, scores[:, idx])[0]
    return out


@dataclasses.dataclass(frozen=True)
class DeLongTestResult(Result):
    """Paired DeLong comparison of two correlated AUCs.

    Attributes
    ----------
    z, p_value : float
        z = (AUC_a - AUC_b) / se(diff); two-sided normal p-value.
    auc_a, auc_b, diff : float
        The AUCs and diff = auc_a - auc_b.
    se : float
        sqrt(var_a + var_b - 2 cov_ab).
    ci_low, ci_high : float
        (1 - alpha) interval of the difference.
    var_a, var_b, cov : float
        DeLong variances and covariance.
    n, n_pos : int
    alpha : float
    """

    z: float
    p_value: float
    auc_a: float
    auc_b: float
    diff: float
    se: float
    ci_low: float
    ci_high: float
    var_a: float
    var_b: float
    cov: float
    n: int
    n_pos: int
    alpha: float


def _p_alternative(stat: float, alternative: str, dist) -> float:
    if alternative == "two-sided":
        return float(2 * dist.sf(abs(stat)))
    if alternative == "greater":  # H1: AUC_a > AUC_b
        return float(dist.sf(stat))
    if alternative == "less":
        return float(dist.cdf(stat))
    raise DataError(f"unknown alternative {alternative!r}.", fix='Use "two-sided", "greater" or "less".')


def delong_test(y, score_a, score_b, alpha: float = 0.05, alternative: str = "two-sided") -> DeLongTestResult:
    """Paired DeLong test of two AUCs measured on the same patients.

    Parameters
    ----------
    y : array-like of 0/1
    score_a, score_b : array-like of float
        Two scores for the same patients (higher = more likely positive).
    alpha : float
        For the CI of the difference.
    alternative : {"two-sided", "greater", "less"}
        "greater": H1 is AUC_a > AUC_b.

    Returns
    -------
    DeLongTestResult

    Notes
    -----
    DeLong et al. 1988, eq. for the covariance of correlated AUCs; computed with the
    midrank algorithm of Sun & Xu 2014. Agrees with R pROC
    ``roc.test(roc1, roc2, method="delong", paired=TRUE)``.
    """
    alpha = check_alpha(alpha)
    yy = as_binary(y)
    sa = as_float(score_a, "score_a", yy.size)
    sb = as_float(score_b, "score_b", yy.size)
    if int(yy.sum()) < 2 or int((1 - yy).sum()) < 2:
        raise DataError("the DeLong test needs at least 2 positives and 2 negatives.", fix="Use a larger cohort.")
    auc, v10, v01 = _delong_components(yy, np.vstack([sa, sb]))
    cov = _delong_cov(v10, v01)
    var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = float(auc[0] - auc[1])
    se = float(np.sqrt(max(var_diff, 0.0)))
    if se == 0:
        # Identical rankings: no difference is testable; report it rather than divide by 0.
        logger.warning("delong_test: the two scores rank patients identically; z set to 0")
        z, p = 0.0, 1.0
    else:
        z = diff / se
        p = _p_alternative(z, alternative, sps.norm)
    q = sps.norm.ppf(1 - alpha / 2)
    return DeLongTestResult(
        z=float(z),
        p_value=p,
        auc_a=float(auc[0]),
        auc_b=float(auc[1]),
        diff=diff,
        se=se,
        ci_low=diff - q * se,
        ci_high=diff + q * se,
        var_a=float(cov[0, 0]),
        var_b=float(cov[1, 1]),
        cov=float(cov[0, 1]),
        n=int(yy.size),
        n_pos=int(yy.sum()),
        alpha=alpha,
    )


@dataclasses.dataclass(frozen=True)
class UnpairedDeLongResult(Result):
    """DeLong comparison of two AUCs from different patients (Welch-type t test).

    Attributes
    ----------
    statistic : float
        D = (AUC_a - AUC_b) / sqrt(var_a + var_b).
    df : float
        Welch-Satterthwaite degrees of freedom, (v_a + v_b)^2 / (v_a^2/(N_a-1) + v_b^2/(N_b-1)),
        N = patients in each cohort (as R pROC).
    p_value : float
        Two-sided, from Student's t with ``df``.
    """

    statistic: float
    df: float
    p_value: float
    auc_a: float
    auc_b: float
    diff: float
    n_a: int
    n_b: int


def delong_unpaired_test(y_a, score_a, y_b, score_b, alternative: str = "two-sided") -> UnpairedDeLongResult:
    """Compare two AUCs measured on different patients (e.g. two cohorts).

    Each AUC's DeLong variance (DeLong 1988) is computed in its own cohort; the statistic
    is referred to a t distribution with Welch-Satterthwaite df, as R pROC
    ``roc.test(method="delong", paired=FALSE)``.
    """
    a = roc_auc_ci(y_a, score_a)
    b = roc_auc_ci(y_b, score_b)
    va, vb = a.se**2, b.se**2
    if va + vb == 0:
        raise DataError("both AUCs have zero variance; the test is undefined.", fix="Check the scores.")
    d = (a.auc - b.auc) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    return UnpairedDeLongResult(statistic=float(d), df=float(df), p_value=_p_alternative(d, alternative, sps.t(df)),
                                auc_a=a.auc, auc_b=b.auc, diff=a.auc - b.auc, n_a=a.n, n_b=b.n)


def roc_curve_table(y, score) -> pd.DataFrame:
    """ROC curve points (fpr, tpr, threshold) for plotting (scikit-learn ``roc_curve``)."""
    from sklearn.metrics import roc_curve

    yy, ss = validate_scores(y, score)
    fpr, tpr, thr = roc_curve(yy, ss, drop_intermediate=False)
    return pd.DataFrame({"threshold": thr, "fpr": fpr, "tpr": tpr})
