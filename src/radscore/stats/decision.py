"""Decision curve analysis: net benefit of a model, treat-all and treat-none.

NB(pt) = TP/n - FP/n * pt / (1 - pt), a patient being test-positive when the predicted
risk is strictly greater than pt (the convention of R/Python ``dcurves``, with which this
agrees on their own examples; tests/stats/test_decision.py).

References
----------
Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction
models. Med Decis Making 2006;26:565-574.
Vickers AJ, van Calster B, Steyerberg EW. A simple, step-by-step guide to interpreting
decision curve analysis. Diagn Progn Res 2019;3:18.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from radscore.errors import DataError
from radscore.stats._base import Result, as_binary, as_float, as_probability

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NetBenefitResult(Result):
    """Net benefit over thresholds.

    Attributes
    ----------
    table : DataFrame
        threshold, one column per model (``model`` for a single array), ``all`` (treat
        all), ``none`` (treat none, 0) and, per model, ``<name>_interventions_avoided``
        per 100 patients: (NB_model - NB_all) / (pt / (1 - pt)) * 100.
    models : tuple of str
    n, n_pos : int
    """

    table: pd.DataFrame
    models: tuple[str, ...]
    n: int
    n_pos: int

    @property
    def summary(self) -> pd.DataFrame:
        return self.table


def net_benefit(y, prob, thresholds=None) -> NetBenefitResult:
    """Net benefit of treating by the model, of treating all and of treating none.

    Parameters
    ----------
    y : array-like of 0/1
    prob : array-like of probabilities, or mapping name -> array-like
        Predicted risks (one model or several, each becoming a column).
    thresholds : array-like of float in [0, 1), optional
        Threshold probabilities pt (default 0, 0.01, ..., 0.99).

    Returns
    -------
    NetBenefitResult
    """
    yy = as_binary(y)
    n = yy.size
    models = dict(prob) if isinstance(prob, Mapping) else {"model": prob}
    if not models:
        raise DataError("no model given.", fix="Pass an array of risks or a mapping name -> risks.")
    risks = {str(k): as_probability(v, f"prob[{k}]" if k != "model" else "prob", n) for k, v in models.items()}
    pt = np.round(np.arange(100) / 100, 2) if thresholds is None else as_float(thresholds, "thresholds")
    if pt.size == 0 or pt.min() < 0 or pt.max() >= 1:
        raise DataError("thresholds must lie in [0, 1).", fix="E.g. numpy.arange(0, 1, 0.01).")
    odds = pt / (1 - pt)
    prev = yy.mean()
    table = pd.DataFrame({"threshold": pt})
    nb_all = prev - (1 - prev) * odds
    for name, r in risks.items():
        pos = r[None, :] > pt[:, None]  # strict, as dcurves
        tp = (pos & (yy == 1)).sum(axis=1) / n
        fp = (pos & (yy == 0)).sum(axis=1) / n
        table[name] = tp - fp * odds
    table["all"] = nb_all
    table["none"] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in risks:
            table[f"{name}_interventions_avoided"] = np.where(
                pt > 0, (table[name] - nb_all) / odds * 100, np.nan)
    return NetBenefitResult(table=table, models=tuple(risks), n=int(n), n_pos=int(yy.sum()))
