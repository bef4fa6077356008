"""Thin adapters from the analyses to ``radscore.stats`` and ``radscore.report.figures``.

The analyses never re-implement a statistic: AUC/DeLong, Kaplan-Meier, log-rank,
net benefit, NRI/IDI come from :mod:`radscore.stats`; standard plots from
:mod:`radscore.report.figures`. They are imported here, lazily and in one place, so an
analysis whose statistic is unavailable is skipped with the missing name rather than
half-run.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np
import pandas as pd

from radscore.errors import DataError

logger = logging.getLogger(__name__)


class MissingTool(RuntimeError):
    """A statistic or plot this analysis needs is not available in this installation."""


def tool(module: str, name: str):
    """``module.name`` or :class:`MissingTool` naming it."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise MissingTool(f"{module}.{name} is not available") from None


def auc_row(y, score, label: str) -> dict[str, Any]:
    """AUC with 95% DeLong CI and p-value (``radscore.stats.roc_auc_ci``) as a table row.

    A cohort with one outcome class (or < 2 patients) gives NaN with the reason, since an
    AUC is undefined there.
    """
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    ok = np.isfinite(y) & np.isfinite(score)
    y, score = y[ok].astype(int), score[ok]
    row: dict[str, Any] = {"analysis": label, "n": int(y.size), "n_pos": int(y.sum())}
    if y.size < 2 or y.min() == y.max():
        return {**row, "auc": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
                "note": "one outcome class: AUC undefined"}
    try:
        r = tool("radscore.stats", "roc_auc_ci")(y, score)
    except DataError as exc:  # e.g. too few of a class for the DeLong variance: AUC without CI
        from sklearn.metrics import roc_auc_score

        return {**row, "auc": float(roc_auc_score(y, score)), "ci_low": np.nan, "ci_high": np.nan,
                "p_value": np.nan, "note": exc.problem}
    return {**row, "auc": r.auc, "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value, "note": ""}


def delong_row(y, a, b, label: str) -> dict[str, Any]:
    try:
        r = tool("radscore.stats", "delong_test")(np.asarray(y, int), np.asarray(a, float), np.asarray(b, float))
    except DataError as exc:
        return {"comparison": label, "auc_a": np.nan, "auc_b": np.nan, "z": np.nan, "p_value": np.nan,
                "note": exc.problem}
    return {"comparison": label, "auc_a": r.auc_a, "auc_b": r.auc_b, "z": r.z, "p_value": r.p_value, "note": ""}


def logrank_p(time, event, groups) -> float:
    """Log-rank p-value across groups (``radscore.stats.logrank_test``); NaN for one group."""
    time, event, groups = np.asarray(time, float), np.asarray(event, int), np.asarray(groups)
    if len(pd.unique(groups)) < 2:
        return float("nan")
    return float(tool("radscore.stats", "logrank_test")(time, event, groups).p_value)


def km_figure(time, event, groups, title: str):
    """KM curves by group (``radscore.report.figures.plot_km``, log-rank p shown); returns the Figure."""
    time, event, groups = np.asarray(time, float), np.asarray(event, int), np.asarray(groups).astype(str)
    plot_km = tool("radscore.report.figures", "plot_km")
    fig, ax = new_figure((6.4, 5.2))
    plot_km(time, event, groups, ax=ax)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig

def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str):
    """ROC curves (label -> (y, score)) via ``radscore.report.figures.plot_roc``.

    Curves are drawn one call per label because each may come from a different cohort;
    a cohort with one outcome class has no ROC curve and is left out of the plot.
    """
    plot_roc = tool("radscore.report.figures", "plot_roc")
    fig, ax = new_figure((4.8, 4.8))
    drawn = 0
    for label, (y, s) in curves.items():
        y, s = np.asarray(y, int), np.asarray(s, float)
        if y.size >= 2 and y.min() != y.max():
            before = len(ax.lines)
            try:
                plot_roc(y, {label: s}, ax=ax)
            except DataError:  # too few of a class for the CI in plot_roc's legend: curve without CI
                from sklearn.metrics import roc_auc_score, roc_curve

                fpr, tpr, _ = roc_curve(y, s)
                ax.plot(fpr, tpr, drawstyle="steps-post", label=f"{label}: AUC {roc_auc_score(y, s):.2f} (no CI, n={y.size})")
            # each call starts plot_roc's palette afresh: recolour this call's curve
            for line in ax.lines[before:]:
                if line.get_label() != "Chance":
                    line.set_color(f"C{drawn}")
            drawn += 1
    handles, labels = ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if lab != "Chance"]
    if keep:
        ax.legend(*zip(*keep), loc="lower right", fontsize=7)
    ax.set_title(title if drawn else f"{title}\n(no cohort holds both outcome classes)", fontsize=9)
    fig.tight_layout()
    return fig

def new_figure(figsize, *args, **kwargs):
    """A figure outside pyplot's registry (the report closes nothing), with its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def fmt_p(p: float) -> str:
    return "NA" if not np.isfinite(p) else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")
