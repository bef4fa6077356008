"""Classification metrics at a fixed cutoff (e.g. the training Radscore cutoff), with CIs.

CI methods: Wilson score interval for the proportions (sensitivity = recall,
specificity, PPV, NPV, accuracy); percentile bootstrap (patients resampled, seeded) for
F1, MCC and Cohen's kappa, which have no simple exact interval.

References
----------
Wilson EB. Probable inference, the law of succession, and statistical inference. JASA
1927;22:209-212. Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial
proportion. Stat Sci 2001;16:101-133.
Matthews BW. Comparison of the predicted and observed secondary structure of T4 phage
lysozyme. Biochim Biophys Acta 1975;405:442-451.
Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960;20:37-46.
Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall 1993.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from radscore.stats._base import Result, as_binary, as_float, check_alpha

logger = logging.getLogger(__name__)


def _f1_mcc_kappa(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray):
    """Vectorised F1, MCC and kappa from confusion counts (NaN where undefined)."""
    tp, fp, fn, tn = (np.asarray(v, float) for v in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = 2 * tp / (2 * tp + fp + fn)
        mcc = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / n**2
        kappa = (po - pe) / (1 - pe)
    return f1, mcc, kappa


@dataclasses.dataclass(frozen=True)
class ThresholdMetricsResult(Result):
    """Metrics at one cutoff.

    Attributes
    ----------
    cutoff : float
        A patient is predicted positive when score >= cutoff.
    tp, fp, tn, fn : int
    table : DataFrame
        metric, estimate, ci_low, ci_high, ci_method; metrics sensitivity, specificity,
        ppv, npv, accuracy, recall, f1, mcc, kappa.
    """

    cutoff: float
    tp: int
    fp: int
    tn: int
    fn: int
    alpha: float
    n_boot: int
    table: pd.DataFrame = dataclasses.field(compare=False)

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    def __getitem__(self, metric: str) -> float:
        """Point estimate of ``metric`` (e.g. ``res["sensitivity"]``)."""
        row = self.table.loc[self.table["metric"] == metric, "estimate"]
        if row.empty:
            raise KeyError(f"{metric!r}; valid: {self.table['metric'].tolist()}")
        return float(row.iloc[0])


def threshold_metrics(y, score, cutoff: float, alpha: float = 0.05, n_boot: int = 2000,
                      random_state: int | None = None) -> ThresholdMetricsResult:
    """Sensitivity, specificity, PPV, NPV, accuracy, recall, F1, MCC and kappa at ``cutoff``.

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float
        Positive prediction when ``score >= cutoff``.
    cutoff : float
        Usually the cutoff chosen on the training set (never re-optimised on test data).
    alpha : float
    n_boot : int
        Bootstrap resamples for the F1/MCC/kappa CIs.
    random_state : int, optional

    Notes
    -----
    Wilson intervals for the proportions; percentile bootstrap for F1, MCC and kappa. A
    metric whose denominator is 0 (e.g. PPV with no positive prediction) is NaN with
    ci_method "undefined (no denominator)".
    """
    from statsmodels.stats.proportion import proportion_confint

    alpha = check_alpha(alpha)
    yy = as_binary(y)
    s = as_float(score, "score", yy.size)
    pred = (s >= float(cutoff)).astype(int)
    tp = int(np.sum((pred == 1) & (yy == 1)))
    fp = int(np.sum((pred == 1) & (yy == 0)))
    tn = int(np.sum((pred == 0) & (yy == 0)))
    fn = int(np.sum((pred == 0) & (yy == 1)))
    rows = []
    for name, num, den in [("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp), ("ppv", tp, tp + fp),
                           ("npv", tn, tn + fn), ("accuracy", tp + tn, yy.size), ("recall", tp, tp + fn)]:
        if den == 0:
            rows.append({"metric": name, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "ci_method": "undefined (no denominator)"})
            continue
        lo, hi = proportion_confint(num, den, alpha=alpha, method="wilson")
        rows.append({"metric": name, "estimate": num / den, "ci_low": float(lo), "ci_high": float(hi),
                     "ci_method": "wilson"})
    est = _f1_mcc_kappa(tp, fp, fn, tn)
    if n_boot > 0:
        # Resampling patients only changes the confusion counts, which are then
        # multinomial(n, observed cell fractions): identical in law, no n_boot x n arrays.
        rng = np.random.default_rng(random_state)
        cells = rng.multinomial(yy.size, np.array([tp, fp, fn, tn], float) / yy.size, size=n_boot)
        boots = _f1_mcc_kappa(cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3])
    else:
        boots = (np.array([np.nan]),) * 3
    for name, e, b in zip(("f1", "mcc", "kappa"), est, boots):
        b = b[np.isfinite(b)]
        if not np.isfinite(e):
            rows.append({"metric": name, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "ci_method": "undefined (no denominator)"})
        elif b.size == 0:
            rows.append({"metric": name, "estimate": float(e), "ci_low": np.nan, "ci_high": np.nan,
                         "ci_method": "none (n_boot=0)"})
        else:
            lo, hi = np.quantile(b, [alpha / 2, 1 - alpha / 2])
            rows.append({"metric": name, "estimate": float(e), "ci_low": float(lo), "ci_high": float(hi),
                         "ci_method": f"percentile bootstrap ({n_boot})"})
    return ThresholdMetricsResult(cutoff=float(cutoff), tp=tp, fp=fp, tn=tn, fn=fn, alpha=alpha,
                                  n_boot=int(n_boot), table=pd.DataFrame(rows))
