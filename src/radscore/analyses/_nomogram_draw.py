"""Points nomogram of a Cox model: the scales and the drawing.

No maintained Python library draws a Cox nomogram (R's ``rms::nomogram`` does), so the
scales are computed here following its construction (Iasonos et al., J Clin Oncol
2008;26:1364-70): each variable's contribution ``beta * x`` is mapped linearly to points,
the variable with the widest contribution range spanning 0-100; total points map back to
the linear predictor and to survival at the horizon, ``S(t|x) = S0(t) ** exp(lp - lp_mean)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from radscore.analyses._shared import new_figure


@dataclass(frozen=True)
class NomogramScales:
    """Linear maps between covariate values, points and the linear predictor.

    Attributes
    ----------
    coef : Series
        Cox coefficients per variable.
    ranges : DataFrame
        index variable, columns low, high (the drawn value range).
    points_per_unit : float
        Points per unit of linear predictor (100 / widest contribution range).
    lp_at_zero_points : float
        Linear predictor of a patient with 0 total points.
    """

    coef: pd.Series
    ranges: pd.DataFrame
    points_per_unit: float
    lp_at_zero_points: float

    def points(self, variable: str, value) -> np.ndarray:
        """Points of ``variable`` at ``value`` (0 at the end of its range with the lower contribution)."""
        b = self.coef[variable]
        lo, hi = self.ranges.loc[variable, ["low", "high"]]
        base = min(b * lo, b * hi)
        return (b * np.asarray(value, float) - base) * self.points_per_unit

    def total_points(self, X: pd.DataFrame) -> np.ndarray:
        """Sum of every variable's points, one per row of ``X``."""
        return sum(self.points(v, X[v]) for v in self.coef.index)

    def linear_predictor(self, total_points) -> np.ndarray:
        """The Cox linear predictor of a patient with ``total_points``."""
        return self.lp_at_zero_points + np.asarray(total_points, float) / self.points_per_unit

    @property
    def max_total(self) -> float:
        """Total points of a patient at the high-points end of every range."""
        return float(sum(self.points(v, self.ranges.loc[v, ["low", "high"]]).max() for v in self.coef.index))


def nomogram_scales(coef: pd.Series, ranges: pd.DataFrame) -> NomogramScales:
    """Scales of a points nomogram for Cox coefficients ``coef`` over the value ``ranges``."""
    spans = (coef * (ranges["high"] - ranges["low"])).abs()
    widest = float(spans.max())
    if not np.isfinite(widest) or widest <= 0:
        widest = 1.0
    lp0 = float(sum(min(coef[v] * ranges.loc[v, "low"], coef[v] * ranges.loc[v, "high"]) for v in coef.index))
    return NomogramScales(coef=coef, ranges=ranges, points_per_unit=100.0 / widest, lp_at_zero_points=lp0)


def survival_at_points(scales: NomogramScales, total_points, s0_horizon: float, lp_mean: float) -> np.ndarray:
    """S(horizon) for total points, ``s0 ** exp(lp - lp_mean)`` (baseline at the mean covariates)."""
    return s0_horizon ** np.exp(scales.linear_predictor(total_points) - lp_mean)


def _nice_ticks(lo: float, hi: float, span_points: float) -> np.ndarray:
    """Round tick values inside [lo, hi], fewer when the axis is short (labels must not overlap)."""
    if hi <= lo:
        return np.array([lo])
    nbins = int(np.clip(span_points // 12, 1, 6))
    ticks = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    ticks = ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)]
    return ticks if ticks.size >= 2 else np.array([lo, hi])


def draw_nomogram(scales: NomogramScales, s0_horizon: float, lp_mean: float, horizon: float, endpoint: str):
    """Draw the nomogram: Points, one axis per variable, Total points, survival at the horizon."""
    variables = list(scales.coef.index)
    rows = ["Points", *variables, "Total points", f"{endpoint} at {horizon:g} months"]
    fig, ax = new_figure((8, 0.6 * len(rows) + 0.8))
    total_max = max(scales.max_total, 1e-9)

    def axis(y, xs, labels):
        ax.plot([min(xs), max(xs)], [y, y], c="k", lw=1)
        for x, lab in zip(xs, labels):
            ax.plot([x, x], [y, y + 0.12], c="k", lw=1)
            ax.text(x, y + 0.18, lab, ha="center", va="bottom", fontsize=7)

    y = len(rows) - 1
    axis(y, np.linspace(0, 100, 11), [f"{v:g}" for v in np.linspace(0, 100, 11)])
    for v in variables:
        y -= 1
        lo, hi = scales.ranges.loc[v, ["low", "high"]]
        vals = _nice_ticks(lo, hi, float(np.ptp(scales.points(v, [lo, hi]))))
        axis(y, scales.points(v, vals), [f"{x:g}" for x in vals])
    y -= 1
    tot = np.linspace(0, total_max, 9)
    axis(y, tot * 100 / total_max, [f"{t:.0f}" for t in tot])
    y -= 1
    surv_lo, surv_hi = survival_at_points(scales, [total_max, 0.0], s0_horizon, lp_mean)
    lo_s, hi_s = sorted((float(surv_lo), float(surv_hi)))
    probs = [p for p in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95) if lo_s <= p <= hi_s]
    if probs:
        # invert S = s0 ** exp(lp - lp_mean) for lp, then lp -> points
        lp = np.log(np.log(probs) / np.log(s0_horizon)) + lp_mean
        pts = (lp - scales.lp_at_zero_points) * scales.points_per_unit
        axis(y, pts * 100 / total_max, [f"{p:g}" for p in probs])
    for i, r in enumerate(reversed(rows)):
        ax.text(-4, i, r, ha="right", va="center", fontsize=8)
    ax.set_xlim(-40, 105)
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.axis("off")
    fig.tight_layout()
    return fig
