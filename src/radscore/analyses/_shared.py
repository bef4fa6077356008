"""What the analyses share: optional packages, skipped sections, AUC rows and standard figures.

Statistics come from :mod:`radscore.stats` and plots from :mod:`radscore.report.figures`,
imported directly, so a renamed function fails at import (and in the tests) instead of
silently skipping a section. Only genuinely optional packages go through :func:`require`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from radscore.errors import DataError
from radscore.report.figures import PALETTE, plot_km, plot_roc
from radscore.report.sections import Section
from radscore.stats import delong_test, logrank_test, roc_auc_ci

logger = logging.getLogger(__name__)

T = TypeVar("T")


class OptionalDependencyMissing(ImportError):
    """An optional package an analysis needs is not installed; the message says how to install it.

    Parameters
    ----------
    package : str
        The import name, e.g. ``"gseapy"``.
    extra : str, optional
        The ``radscore`` pip extra that installs it (``"deep"`` for torch); None for a core
        dependency missing from a broken installation.
    """

    def __init__(self, package: str, extra: str | None = None) -> None:
        how = f"pip install 'radscore[{extra}]'" if extra else (
            f"pip install {package} (a core dependency of radscore missing from this installation)")
        super().__init__(f"needs {package}: {how}", name=package)


@contextmanager
def require(package: str, extra: str | None = None) -> Iterator[None]:
    """Turn an ImportError inside the block into :class:`OptionalDependencyMissing`.

    Examples
    --------
    >>> with require("gseapy", "tme"):
    ...     import gseapy
    """
    try:
        yield
    except ImportError as exc:
        if isinstance(exc, OptionalDependencyMissing):
            raise
        raise OptionalDependencyMissing(package, extra) from exc


@dataclass(frozen=True)
class Skipped:
    """A section that did not run (its inputs are absent), and why."""

    key: str
    title: str
    reason: str

    def section(self) -> Section:
        return Section(self.key, self.title, skipped=self.reason)


def attempt(key_title: tuple[str, str], compute: Callable[..., T], *args) -> T | Skipped:
    """``compute(*args)``, or :class:`Skipped` with the message of a :class:`DataError`.

    For parts with several sections, so absent inputs of one do not hide the others.
    """
    try:
        return compute(*args)
    except DataError as exc:
        logger.warning("analysis %s skipped: %s", key_title[0], exc.message)
        return Skipped(*key_title, exc.message)


@dataclass(frozen=True)
class KmCurves:
    """The data of one Kaplan-Meier figure (drawn by :meth:`figure`)."""

    time: np.ndarray
    event: np.ndarray
    groups: np.ndarray
    title: str

    @classmethod
    def of(cls, time, event, groups, title: str) -> KmCurves:
        return cls(np.asarray(time, float), np.asarray(event, int), np.asarray(groups).astype(str), title)

    def figure(self) -> Figure:
        """KM curves by group with the log-rank p (``radscore.report.figures.plot_km``)."""
        fig, ax = new_figure((6.4, 5.2))
        plot_km(self.time, self.event, self.groups, ax=ax)
        ax.set_title(self.title, fontsize=9)
        fig.tight_layout()
        return fig


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
        r = roc_auc_ci(y, score)
    except DataError as exc:  # e.g. too few of a class for the DeLong variance: AUC without CI
        return {**row, "auc": float(roc_auc_score(y, score)), "ci_low": np.nan, "ci_high": np.nan,
                "p_value": np.nan, "note": exc.problem}
    return {**row, "auc": r.auc, "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value, "note": ""}


def delong_row(y, a, b, label: str) -> dict[str, Any]:
    """Paired DeLong comparison of scores ``a`` and ``b`` as a table row (NaN with the reason)."""
    try:
        r = delong_test(np.asarray(y, int), np.asarray(a, float), np.asarray(b, float))
    except DataError as exc:
        return {"comparison": label, "auc_a": np.nan, "auc_b": np.nan, "z": np.nan, "p_value": np.nan,
                "note": exc.problem}
    return {"comparison": label, "auc_a": r.auc_a, "auc_b": r.auc_b, "z": r.z, "p_value": r.p_value, "note": ""}


def logrank_p(time, event, groups) -> float:
    """Log-rank p-value across groups (``radscore.stats.logrank_test``); NaN for one group."""
    time, event, groups = np.asarray(time, float), np.asarray(event, int), np.asarray(groups)
    if len(pd.unique(groups)) < 2:
        return float("nan")
    return float(logrank_test(time, event, groups).p_value)


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """ROC curves (label -> (y, score)) via ``radscore.report.figures.plot_roc``.

    Curves are drawn one call per label because each may come from a different cohort;
    a cohort with one outcome class has no ROC curve and is left out of the plot.
    """
    fig, ax = new_figure((4.8, 4.8))
    drawn = 0
    for label, (y, s) in curves.items():
        y, s = np.asarray(y, int), np.asarray(s, float)
        if y.size >= 2 and y.min() != y.max():
            before = len(ax.lines)
            try:
                plot_roc(y, {label: s}, ax=ax)
            except DataError:  # too few of a class for the CI in plot_roc's legend: curve without CI
                fpr, tpr, _ = roc_curve(y, s)
                ax.plot(fpr, tpr, drawstyle="steps-post",
                        label=f"{label}: AUC {roc_auc_score(y, s):.2f} (no CI, n={y.size})")
            # each call starts plot_roc's palette afresh: recolour this call's curve
            for line in ax.lines[before:]:
                if line.get_label() != "Chance":
                    line.set_color(PALETTE[drawn % len(PALETTE)])
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
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def fmt_p(p: float) -> str:
    """A p-value for prose: two significant digits below 0.001, else three decimals; NA for NaN."""
    return "NA" if not np.isfinite(p) else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")
