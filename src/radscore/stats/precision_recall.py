"""Precision-recall curve and average precision with a permutation p-value.

References
----------
Saito T, Rehmsmeier M. The precision-recall plot is more informative than the ROC plot when
evaluating binary classifiers on imbalanced datasets. PLoS One 2015;10:e0118432.
Phipson B, Smyth GK. Permutation p-values should never be zero. Stat Appl Genet Mol Biol
2010;9:39.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from radscore.stats._base import Result
from radscore.stats.discrimination import validate_scores


@dataclasses.dataclass(frozen=True)
class PrCurveResult(Result):
    """Precision-recall curve and average precision with a permutation p-value.

    Attributes
    ----------
    average_precision : float
        scikit-learn's step-wise AP (sum of (R_k - R_{k-1}) P_k).
    prevalence : float
        Positive fraction: the AP of an uninformative score.
    p_value : float
        One-sided permutation p-value, (1 + #{AP_perm >= AP}) / (1 + n_perm).
    n_perm : int
    curve : DataFrame
        Columns threshold, precision, recall (scikit-learn ``precision_recall_curve``).
    """

    average_precision: float
    prevalence: float
    p_value: float
    n_perm: int
    n: int
    n_pos: int
    curve: pd.DataFrame = dataclasses.field(repr=False, compare=False)


def pr_curve(y, score, n_perm: int = 2000, random_state: int | None = None) -> PrCurveResult:
    """Precision-recall curve, average precision and its permutation p-value.

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float
    n_perm : int
        Label permutations for the p-value (0 to skip; p_value is then NaN).
    random_state : int, optional

    Returns
    -------
    PrCurveResult

    Notes
    -----
    AP as in scikit-learn (no interpolation). The permutation p-value follows
    Phipson & Smyth, Stat Appl Genet Mol Biol 2010;9:39 (add one to numerator and
    denominator so p is never 0). Saito & Rehmsmeier, PLoS One 2015;10:e0118432 for why
    the PR curve complements ROC under class imbalance.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    yy, ss = validate_scores(y, score)
    ap = float(average_precision_score(yy, ss))
    prec, rec, thr = precision_recall_curve(yy, ss)
    curve = pd.DataFrame({"threshold": np.append(thr, np.nan), "precision": prec, "recall": rec})
    if n_perm > 0:
        rng = np.random.default_rng(random_state)
        perm = np.array([average_precision_score(rng.permutation(yy), ss) for _ in range(n_perm)])
        p = float((1 + np.sum(perm >= ap - 1e-12)) / (1 + n_perm))
    else:
        p = float("nan")
    return PrCurveResult(
        average_precision=ap,
        prevalence=float(yy.mean()),
        p_value=p,
        n_perm=int(n_perm),
        n=int(yy.size),
        n_pos=int(yy.sum()),
        curve=curve,
    )
