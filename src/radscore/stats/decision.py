"""Decision curve analysis: net benefit of a model, treat-all and treat-none.

Binary outcome (:func:`net_benefit`): NB(pt) = TP/n - FP/n * pt / (1 - pt), a patient
being test-positive when the predicted risk is strictly greater than pt. This agrees with
R/Python ``dcurves`` on their own examples (tests/stats/test_decision.py); Python dcurves
1.1.7 counts ``risk >= pt`` after nudging risks of exactly 0 and 1 by machine epsilon, so
the two differ only where a risk in (0, 1) equals a threshold exactly.

Time-to-event outcome (:func:`survival_net_benefit`), for "event by the horizon h" with
censored follow-up (Vickers et al. 2008): with f the fraction of test-positive patients and
S+(h) the Kaplan-Meier survival at h among them, TP = (1 - S+(h)) f, FP = S+(h) f and
NB = TP - FP pt / (1 - pt); treat-all uses the Kaplan-Meier of every patient. This is the
survival mode of Python ``dcurves`` (1.1.7), which it reproduces to 1e-10 on a censored
simulation with ties (tests/stats/test_decision.py).

References
----------
Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction
models. Med Decis Making 2006;26:565-574.
Vickers AJ, Cronin AM, Elkin EB, Gonen M. Extensions to decision curve analysis, a novel
method for evaluating diagnostic tests, prediction models and molecular markers. BMC Med
Inform Decis Mak 2008;8:53.
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
from radscore.stats._survival_base import check_survival

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NetBenefitResult(Result):
    """Net benefit over thresholds.

    Attributes
    ----------
    table : DataFrame
        threshold, one column per model (``model`` for a single array), ``all`` (treat
        all), ``none`` (treat none, 0) and, per model, ``<name>_interventions_avoided``
        per 100 patients: (NB_model - NB_all) / (pt / (1 - pt)) * 100 (NaN at pt = 0).
        In the survival case a model's net benefit is NaN where it is not estimable (see
        :func:`survival_net_benefit`).
    models : tuple of str
    n, n_pos : int
        Patients, and patients with the outcome (survival: events observed by the horizon).
    horizon : float or None
        The horizon of a survival decision curve; None for a binary outcome.
    """

    table: pd.DataFrame
    models: tuple[str, ...]
    n: int
    n_pos: int
    horizon: float | None = None

    @property
    def summary(self) -> pd.DataFrame:
        return self.table


def _thresholds(thresholds) -> np.ndarray:
    """Threshold probabilities in [0, 1) (default 0, 0.01, ..., 0.99)."""
    pt = np.round(np.arange(100) / 100, 2) if thresholds is None else as_float(thresholds, "thresholds")
    if pt.size == 0 or pt.min() < 0 or pt.max() >= 1:
        raise DataError("thresholds must lie in [0, 1).", fix="E.g. numpy.arange(0, 1, 0.01).")
    return pt


def _risks(prob, n: int) -> dict[str, np.ndarray]:
    """One model's risks or a mapping name -> risks, as {name: probabilities}."""
    models = dict(prob) if isinstance(prob, Mapping) else {"model": prob}
    if not models:
        raise DataError("no model given.", fix="Pass an array of risks or a mapping name -> risks.")
    return {str(k): as_probability(v, f"prob[{k}]" if k != "model" else "prob", n) for k, v in models.items()}


def _table(pt: np.ndarray, nb: dict[str, np.ndarray], nb_all: np.ndarray) -> pd.DataFrame:
    """threshold, the models, all, none and each model's interventions avoided per 100."""
    odds = pt / (1 - pt)
    table = pd.DataFrame({"threshold": pt, **nb})
    table["all"] = nb_all
    table["none"] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in nb:
            table[f"{name}_interventions_avoided"] = np.where(
                pt > 0, (table[name] - nb_all) / odds * 100, np.nan)
    return table


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
    risks = _risks(prob, n)
    pt = _thresholds(thresholds)
    odds = pt / (1 - pt)
    prev = yy.mean()
    nb = {}
    for name, r in risks.items():
        pos = r[None, :] > pt[:, None]  # strict, as dcurves
        tp = (pos & (yy == 1)).sum(axis=1) / n
        fp = (pos & (yy == 0)).sum(axis=1) / n
        nb[name] = tp - fp * odds
    table = _table(pt, nb, prev - (1 - prev) * odds)
    return NetBenefitResult(table=table, models=tuple(risks), n=int(n), n_pos=int(yy.sum()))


def _km_risk(t: np.ndarray, e: np.ndarray, horizon: float) -> float:
    """1 - Kaplan-Meier S(horizon) (lifelines, through the KM table of stats.survival)."""
    from radscore.stats.survival import _km_table

    tab = _km_table(t, e, 0.05, "log")
    i = np.searchsorted(tab["time"].to_numpy(), horizon, side="right") - 1
    return 1.0 - float(tab["survival"].iloc[i])


def survival_net_benefit(time, event, risk, horizon: float, thresholds=None) -> NetBenefitResult:
    """Net benefit for "event by the horizon" with censored follow-up (Kaplan-Meier based).

    At each threshold pt a patient is test-positive when the predicted risk of an event by
    ``horizon`` is strictly greater than pt (as :func:`net_benefit`). With f the fraction of
    all patients who are test-positive and S+ the Kaplan-Meier survival at the horizon among
    them, TP = (1 - S+) f, FP = S+ f and NB = TP - FP pt / (1 - pt) (Vickers et al. 2008).
    Treat-all is the same with every patient positive (f = 1, S = Kaplan-Meier of all);
    treat-none is 0. Every patient counts, censored ones through the Kaplan-Meier, so
    nobody censored before the horizon is dropped.

    Parameters
    ----------
    time, event : array-like
        Follow-up time and event indicator (1 = event, 0 = censored).
    risk : array-like of probabilities, or mapping name -> array-like
        Predicted probability of an event by ``horizon`` (1 - predicted S(horizon)), one
        model or several (each becoming a column).
    horizon : float
        Time of the decision, in the unit of ``time``; must not exceed the last follow-up.
    thresholds : array-like of float in [0, 1), optional
        Threshold probabilities pt (default 0, 0.01, ..., 0.99).

    Returns
    -------
    NetBenefitResult
        ``n_pos`` is the number of events observed by the horizon; ``horizon`` is set.

    Raises
    ------
    DataError
        Bad inputs, no events, or a horizon after the last follow-up.

    Notes
    -----
    Edge cases follow Python ``dcurves`` 1.1.7 (``dca(..., time=, time_to_outcome_col=)``):
    with no test-positive patient the model's net benefit is 0; where test-positive
    patients exist but all their follow-up times (events or censorings) are before the
    horizon, it is NaN (not estimable, as dcurves' None). Kaplan-Meier estimation, ties
    included, is lifelines'. One difference: dcurves counts a risk *equal* to pt as
    positive (``>=``, with risks of exactly 0 and 1 nudged by machine epsilon), this
    function does not (``>``, as :func:`net_benefit`); the two agree unless a predicted
    risk in (0, 1) equals a threshold exactly. Thresholds with the same test-positive
    patients share one Kaplan-Meier fit, so a fine grid of thresholds costs at most one fit
    per distinct predicted risk.
    """
    t, e = check_survival(time, event)
    n = t.size
    h = float(horizon)
    if not np.isfinite(h) or h <= 0:
        raise DataError(f"horizon must be a positive time, got {horizon}.", fix="E.g. 12 (months).")
    if h > t.max():
        raise DataError(f"horizon {h:g} is after the last follow-up ({t.max():g}); the Kaplan-Meier "
                        "estimate is undefined there.", fix="Choose a horizon within the follow-up.")
    risks = _risks(risk, n)
    pt = _thresholds(thresholds)
    odds = pt / (1 - pt)
    r_all = _km_risk(t, e, h)
    nb = {}
    for name, r in risks.items():
        values = np.zeros(pt.size)
        # The sets {r > p} are nested, so their size identifies one: thresholds between the
        # same two risks share one Kaplan-Meier fit (all patients: treat-all's).
        km_risk_of = {n: r_all}
        for i, p in enumerate(pt):
            pos = r > p  # strict, as the binary decision curve
            k = int(pos.sum())
            if k == 0:
                continue  # nobody treated: net benefit 0
            if k not in km_risk_of:
                # NaN (so the net benefit is NaN) where no positive patient is followed to the horizon
                km_risk_of[k] = _km_risk(t[pos], e[pos], h) if t[pos].max() >= h else np.nan
            rr = km_risk_of[k]
            f = k / n
            values[i] = rr * f - (1 - rr) * f * odds[i]
        if np.isnan(values).any():
            logger.info("survival_net_benefit: %s not estimable at %d thresholds (no test-positive patient "
                        "followed to %g)", name, int(np.isnan(values).sum()), h)
        nb[name] = values
    table = _table(pt, nb, r_all - (1 - r_all) * odds)
    return NetBenefitResult(table=table, models=tuple(risks), n=int(n), n_pos=int(e[t <= h].sum()), horizon=h)
