"""Reclassification: net reclassification improvement (categorical, continuous) and IDI.

Formulas and standard errors as R Hmisc ``improveProb`` (with which this agrees to 1e-8 on
the PredictABEL example; tests/stats/test_reclassification.py). The categorical NRI is the
same computation on risk categories instead of risks.

References
----------
Pencina MJ, D'Agostino RB Sr, D'Agostino RB Jr, Vasan RS. Evaluating the added predictive
ability of a new marker: from area under the ROC curve to reclassification and beyond.
Stat Med 2008;27:157-172.
Pencina MJ, D'Agostino RB Sr, Steyerberg EW. Extensions of net reclassification
improvement calculations to measure usefulness of new biomarkers. Stat Med 2011;30:11-21.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy import stats as sps

from radscore.errors import DataError
from radscore.stats._base import Result, as_binary, as_float, as_probability

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NriResult(Result):
    """Net reclassification improvement.

    Attributes
    ----------
    nri, se, z, p_value : float
        NRI = (P(up|event) - P(down|event)) + (P(down|non-event) - P(up|non-event));
        se = sqrt(v_events + v_nonevents) (Pencina 2008); two-sided normal p.
    nri_events, nri_nonevents : float
        The two components.
    kind : str
        ``"continuous"`` (any change counts) or ``"categorical"``.
    cutoffs : tuple of float
        Category boundaries (empty for continuous).
    n_up_events, n_down_events, n_up_nonevents, n_down_nonevents : int
    """

    nri: float
    se: float
    z: float
    p_value: float
    nri_events: float
    nri_nonevents: float
    kind: str
    cutoffs: tuple[float, ...]
    n_up_events: int
    n_down_events: int
    n_up_nonevents: int
    n_down_nonevents: int

    def ci(self, alpha: float = 0.05) -> tuple[float, float]:
        """Wald ``1 - alpha`` confidence interval, NRI +- z se (as Hmisc ``improveProb``)."""
        return _wald_ci(self.nri, self.se, alpha)


def _wald_ci(estimate: float, se: float, alpha: float) -> tuple[float, float]:
    z = float(sps.norm.ppf(1 - alpha / 2))
    return estimate - z * se, estimate + z * se


@dataclasses.dataclass(frozen=True)
class IdiResult(Result):
    """Integrated discrimination improvement.

    Attributes
    ----------
    idi, se, z, p_value : float
        IDI = mean(p_new - p_old | event) - mean(p_new - p_old | non-event);
        se = sqrt(var_events / n1 + var_nonevents / n0) (sample variances).
    improvement_events, improvement_nonevents : float
        mean change of risk in events, and minus the mean change in non-events.
    """

    idi: float
    se: float
    z: float
    p_value: float
    improvement_events: float
    improvement_nonevents: float

    def ci(self, alpha: float = 0.05) -> tuple[float, float]:
        """Wald ``1 - alpha`` confidence interval, IDI +- z se (as Hmisc ``improveProb``)."""
        return _wald_ci(self.idi, self.se, alpha)


def _inputs(y, prob_old, prob_new) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy = as_binary(y)
    return yy, as_probability(prob_old, "prob_old", yy.size), as_probability(prob_new, "prob_new", yy.size)


def _z_p(est: float, se: float) -> tuple[float, float]:
    if se == 0:
        return (0.0, 1.0) if est == 0 else (float(np.sign(est) * np.inf), 0.0)
    z = est / se
    return float(z), float(2 * sps.norm.sf(abs(z)))


def nri(y, prob_old, prob_new, cutoffs=None) -> NriResult:
    """Net reclassification improvement of ``prob_new`` over ``prob_old``.

    Parameters
    ----------
    y : array-like of 0/1
    prob_old, prob_new : array-like of probabilities
    cutoffs : sequence of float, optional
        Risk-category boundaries strictly inside (0, 1), e.g. ``(0.1, 0.3)`` for
        [0, 0.1), [0.1, 0.3), [0.3, 1] (left-closed, as R ``cut(right=FALSE)``); bounds 0
        and 1 may be included and are ignored. None: continuous (category-free) NRI.
    """
    yy, p1, p2 = _inputs(y, prob_old, prob_new)
    if cutoffs is None:
        kind, cuts = "continuous", ()
        d = p2 - p1
    else:
        c = as_float(cutoffs, "cutoffs")
        c = np.unique(c[(c > 0) & (c < 1)])
        if c.size == 0:
            raise DataError("cutoffs must include at least one value strictly between 0 and 1.",
                            fix="E.g. cutoffs=(0.1, 0.3).")
        kind, cuts = "categorical", tuple(float(v) for v in c)
        d = (np.searchsorted(c, p2, side="right") - np.searchsorted(c, p1, side="right")).astype(float)
    ev, ne = yy == 1, yy == 0
    n1, n0 = float(ev.sum()), float(ne.sum())
    up_e, down_e = int(np.sum(d[ev] > 0)), int(np.sum(d[ev] < 0))
    up_n, down_n = int(np.sum(d[ne] > 0)), int(np.sum(d[ne] < 0))
    nri_e = (up_e - down_e) / n1
    nri_n = (down_n - up_n) / n0
    # Pencina 2008 variance of each component (McNemar-type), as Hmisc improveProb.
    v_e = (up_e + down_e) / n1**2 - (up_e - down_e) ** 2 / n1**3
    v_n = (up_n + down_n) / n0**2 - (up_n - down_n) ** 2 / n0**3
    est = nri_e + nri_n
    se = float(np.sqrt(v_e + v_n))
    z, p = _z_p(est, se)
    return NriResult(nri=float(est), se=se, z=z, p_value=p, nri_events=float(nri_e), nri_nonevents=float(nri_n),
                     kind=kind, cutoffs=cuts, n_up_events=up_e, n_down_events=down_e,
                     n_up_nonevents=up_n, n_down_nonevents=down_n)


def idi(y, prob_old, prob_new) -> IdiResult:
    """Integrated discrimination improvement of ``prob_new`` over ``prob_old`` (Pencina 2008)."""
    yy, p1, p2 = _inputs(y, prob_old, prob_new)
    d = p2 - p1
    de, dn = d[yy == 1], d[yy == 0]
    if de.size < 2 or dn.size < 2:
        raise DataError("IDI needs at least 2 events and 2 non-events.", fix="Use a larger cohort.")
    est = float(de.mean() - dn.mean())
    se = float(np.sqrt(de.var(ddof=1) / de.size + dn.var(ddof=1) / dn.size))
    z, p = _z_p(est, se)
    return IdiResult(idi=est, se=se, z=z, p_value=p, improvement_events=float(de.mean()),
                     improvement_nonevents=float(-dn.mean()))
