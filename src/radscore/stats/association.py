"""Association tables for response: univariate and multivariable logistic regression.

Odds ratios with Wald 95 % CIs and p-values from statsmodels ``Logit`` (maximum
likelihood, as R ``glm(family=binomial)``), with responders/patients per level; the Cox
counterpart for OS/PFS is :func:`radscore.stats.cox.cox_table`. Layout of the mCRC seed's
Table 2.

References
----------
Hosmer DW, Lemeshow S, Sturdivant RX. Applied Logistic Regression, 3rd ed. Wiley 2013,
ch. 1-4.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.errors import DataError
from radscore.stats._base import Result, as_binary, check_alpha
from radscore.stats._design import check_columns, complete_cases, design, level_counts

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LogisticResult(Result):
    """A fitted logistic regression.

    Attributes
    ----------
    table : DataFrame
        covariate, level, reference, coef, se, or, ci_low, ci_high, z, p_value.
    n, events : int
        Complete cases and positives among them.
    model : statsmodels results
        For predictions (``model.predict``); not compared, not in the summary.
    """

    table: pd.DataFrame
    n: int
    events: int
    log_likelihood: float
    model: Any = dataclasses.field(repr=False, compare=False)

    @property
    def summary(self) -> pd.DataFrame:
        return self.table


def logistic_multivariate(df: pd.DataFrame, outcome: str, covariates: Sequence[str],
                          alpha: float = 0.05) -> LogisticResult:
    """Multivariable logistic regression on complete cases (OR = exp(coef), Wald CI).

    Categorical covariates (object/category/bool) enter as indicators against their first
    level.
    """
    import statsmodels.api as sm

    alpha = check_alpha(alpha)
    if not covariates:
        raise DataError("no covariates given for the logistic model.", fix="Name at least one column.")
    check_columns(df, [outcome, *covariates])
    data = complete_cases(df, [outcome, *covariates])
    y = as_binary(data[outcome], outcome)
    X, info = design(data, covariates)
    if min(y.sum(), (1 - y).sum()) <= X.shape[1]:
        logger.warning("logistic %s: %d terms for %d minority-class patients (overfitting risk)",
                       list(covariates), X.shape[1], min(y.sum(), (1 - y).sum()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = sm.Logit(y, sm.add_constant(X, has_constant="add")).fit(disp=0, method="newton", maxiter=100,
                                                                         tol=1e-12)
        except Exception as exc:  # PerfectSeparationError, singular matrix
            raise DataError(f"the logistic model of {list(covariates)} cannot be fitted ({exc}).",
                            fix="Check for separation (a level with all or no responders) or collinearity.") from None
    if not fit.mle_retvals.get("converged", True):
        raise DataError(f"the logistic model of {list(covariates)} did not converge.",
                        fix="Check for separation or rescale covariates.")
    q = sps.norm.ppf(1 - alpha / 2)
    rows = []
    for term in info:
        c = term["column"]
        b, se = float(fit.params[c]), float(fit.bse[c])
        rows.append({"covariate": term["covariate"], "level": term["level"], "reference": term["reference"],
                     "coef": b, "se": se, "or": float(np.exp(b)), "ci_low": float(np.exp(b - q * se)),
                     "ci_high": float(np.exp(b + q * se)), "z": b / se, "p_value": float(fit.pvalues[c])})
    return LogisticResult(table=pd.DataFrame(rows), n=int(y.size), events=int(y.sum()),
                          log_likelihood=float(fit.llf), model=fit)


def logistic_univariate(df: pd.DataFrame, outcome: str, covariates: Sequence[str],
                        alpha: float = 0.05) -> pd.DataFrame:
    """One logistic model per covariate; rows as :func:`logistic_multivariate` plus n, events."""
    parts = []
    for cov in covariates:
        r = logistic_multivariate(df, outcome, [cov], alpha)
        parts.append(r.table.assign(n=r.n, events=r.events))
    return pd.concat(parts, ignore_index=True)


def logistic_table(df: pd.DataFrame, outcome: str, covariates: Sequence[str], p_threshold: float = 0.05,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Response association table: per level responders/patients, univariate OR (CI, p),
    and multivariable OR of the covariates with univariate p < ``p_threshold``.

    Columns: covariate, level, patients, events, or_uni, ci_low_uni, ci_high_uni,
    p_value_uni, or_multi, ci_low_multi, ci_high_multi, p_value_multi (NaN when the
    covariate was not selected).
    """
    check_columns(df, [outcome, *covariates])
    uni = logistic_univariate(df, outcome, covariates, alpha)
    chosen = [c for c in covariates if (uni.loc[uni["covariate"] == c, "p_value"] < p_threshold).any()]
    cols = ["covariate", "level", "or", "ci_low", "ci_high", "p_value"]
    out = uni[cols]
    if chosen:
        multi = logistic_multivariate(df, outcome, chosen, alpha).table[cols]
        out = out.merge(multi, on=["covariate", "level"], how="left", suffixes=("_uni", "_multi"))
    else:
        logger.info("logistic_table: no covariate with univariate p < %g", p_threshold)
        out = out.rename(columns={c: f"{c}_uni" for c in cols[2:]})
        for c in cols[2:]:
            out[f"{c}_multi"] = np.nan
    y = pd.to_numeric(df[outcome], errors="coerce").fillna(0).to_numpy()
    counts = pd.DataFrame([r for c in covariates for r in level_counts(df, c, y)])
    return counts.merge(out, on=["covariate", "level"], how="left")
