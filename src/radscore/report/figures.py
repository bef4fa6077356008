"""Figures of the evaluation: ROC, PR, calibration, DCA, Kaplan-Meier, forest, box, waterfall.

Each ``plot_x(..., ax=None)`` draws on ``ax`` (or a new Agg-backed figure, never pyplot, so
no GUI backend and no global figure state) and returns the Axes. Numbers come from
:mod:`radscore.stats`, so a figure always agrees with its table. One style for all:
Okabe-Ito colour-blind-safe palette, 9-pt text, no top/right spines, every axis labelled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any, Sequence

import numpy as np
import pandas as pd

from radscore.errors import DataError
from radscore import stats

logger = logging.getLogger(__name__)

# Okabe & Ito 2008 palette: distinguishable with colour-vision deficiency and in greyscale.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
GREY = "#7f7f7f"
STYLE = {
    "font.size": 9,
    "axes.labelsize": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "legend.frameon": False,
    "svg.fonttype": "none",  # text stays text in SVG (editable for journals)
}


@contextmanager
def _style():
    import matplotlib as mpl

    with mpl.rc_context(STYLE):
        yield


def figure_bytes(fig, fmt: str = "png", dpi: int = 300) -> bytes:
    """Encode ``fig`` as PNG/SVG/PDF bytes, identical for identical figures.

    SVG element ids are salted at *save* time (random unless ``svg.hashsalt`` is set)
    and every format stamps a date or software tag, so both are fixed here.
    """
    import io

    import matplotlib as mpl

    meta = {"Date": None} if fmt == "svg" else ({"Software": None} if fmt == "png" else {"CreationDate": None})
    buf = io.BytesIO()
    with mpl.rc_context({**STYLE, "svg.hashsalt": "radscore"}):
        fig.savefig(buf, format=fmt, dpi=dpi if fmt == "png" else None, bbox_inches="tight", metadata=meta)
    return buf.getvalue()


def _axes(ax, figsize=(4.2, 3.8)):
    """Return ``ax`` or a new Axes on an Agg canvas (no pyplot)."""
    if ax is not None:
        return ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _named(x, default: str) -> dict[str, Any]:
    return {str(k): v for k, v in x.items()} if isinstance(x, Mapping) else {default: x}


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def plot_roc(y, scores, ax=None, alpha: float = 0.05, title: str | None = None):
    """ROC curve(s) with AUC and DeLong CI in the legend.

    Parameters
    ----------
    y : array-like of 0/1
    scores : array-like or mapping name -> array-like
    """
    with _style():
        ax = _axes(ax)
        for i, (name, s) in enumerate(_named(scores, "Radscore").items()):
            res = stats.roc_auc_ci(y, s, alpha=alpha)
            curve = stats.roc_curve_table(y, s)
            lvl = int(round(100 * (1 - alpha)))
            ax.plot(curve["fpr"], curve["tpr"], color=PALETTE[i % len(PALETTE)], drawstyle="steps-post",
                    label=f"{name}: AUC {res.auc:.2f} ({lvl}% CI {res.ci_low:.2f}-{res.ci_high:.2f})")
        ax.plot([0, 1], [0, 1], ls="--", color=GREY, lw=0.8, label="Chance")
        ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="1 - Specificity (false-positive rate)",
               ylabel="Sensitivity (true-positive rate)", aspect="equal")
        ax.legend(loc="lower right")
        if title:
            ax.set_title(title)
    return ax


def plot_pr(y, scores, ax=None, title: str | None = None):
    """Precision-recall curve(s) with average precision; dashed line at the prevalence."""
    with _style():
        ax = _axes(ax)
        prev = None
        for i, (name, s) in enumerate(_named(scores, "Radscore").items()):
            res = stats.pr_curve(y, s, n_perm=0, n_boot=0)
            prev = res.prevalence
            ax.plot(res.curve["recall"], res.curve["precision"], color=PALETTE[i % len(PALETTE)],
                    drawstyle="steps-post", label=f"{name}: AP {res.average_precision:.2f}")
        ax.axhline(prev, ls="--", color=GREY, lw=0.8, label=f"Prevalence {prev:.2f}")
        ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="Recall (sensitivity)",
               ylabel="Precision (positive predictive value)")
        ax.legend(loc="lower left")
        if title:
            ax.set_title(title)
    return ax


def plot_calibration(y, probs, ax=None, bins: int = 10, title: str | None = None):
    """Calibration: binned observed vs predicted (Wilson CIs), lowess curve, ideal line."""
    with _style():
        ax = _axes(ax)
        ax.plot([0, 1], [0, 1], ls="--", color=GREY, lw=0.8, label="Ideal")
        for i, (name, p) in enumerate(_named(probs, "Model").items()):
            c = stats.calibration(y, p, bins=bins)
            col = PALETTE[i % len(PALETTE)]
            b = c.binned
            # a Wilson interval contains its proportion; at 0 or 1 it can miss it by rounding (-1e-17)
            yerr = np.clip([b["observed"] - b["ci_low"], b["ci_high"] - b["observed"]], 0.0, None)
            ax.errorbar(b["mean_predicted"], b["observed"], yerr=yerr,
                        fmt="o", ms=3.5, color=col, capsize=2, lw=0.8)
            ax.plot(c.smoothed["predicted"], c.smoothed["observed"], color=col,
                    label=f"{name}: slope {'unbounded' if c.note else f'{c.slope:.2f}'}, "
                          f"intercept {c.intercept:.2f}, Brier {c.brier:.3f}")
        ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="Predicted probability",
               ylabel="Observed proportion", aspect="equal")
        ax.legend(loc="upper left")
        if title:
            ax.set_title(title)
    return ax


def plot_dca(y, probs, thresholds=None, ax=None, title: str | None = None):
    """Decision curves: net benefit of each model, treat all and treat none."""
    with _style():
        ax = _axes(ax, figsize=(4.8, 3.6))
        _draw_net_benefit(stats.net_benefit(y, _named(probs, "Model"), thresholds), ax, title)
    return ax


def plot_survival_dca(result: stats.NetBenefitResult, ax=None, title: str | None = None,
                      labels: Mapping[str, str] | None = None):
    """Decision curves for an event by the horizon with censored follow-up, as computed.

    Parameters
    ----------
    result : NetBenefitResult
        From :func:`radscore.stats.survival_net_benefit`: drawn as it is, so the figure is the
        table; thresholds where a model's net benefit is not estimable (NaN) are left as gaps.
    ax : matplotlib Axes, optional
    title : str, optional
    labels : mapping of str to str, optional
        Legend name of a model column (default the column name).

    Returns
    -------
    matplotlib Axes
    """
    with _style():
        ax = _axes(ax, figsize=(4.8, 3.6))
        _draw_net_benefit(result, ax, title, labels)
    return ax


def _draw_net_benefit(res, ax, title: str | None, labels: Mapping[str, str] | None = None) -> None:
    """Draw a :class:`radscore.stats.NetBenefitResult` on ``ax`` (inside ``_style``)."""
    t = res.table
    labels = labels or {}
    for i, name in enumerate(res.models):
        ax.plot(t["threshold"], t[name], color=PALETTE[i % len(PALETTE)], label=labels.get(name, name))
    ax.plot(t["threshold"], t["all"], color=GREY, lw=1.0, label="Treat all")
    ax.plot(t["threshold"], t["none"], color="black", lw=1.0, ls=":", label="Treat none")
    top = float(np.nanmax(t[list(res.models) + ["all"]].to_numpy()))
    ax.set(ylim=(-0.05 * max(top, 0.05), max(top, 0.05) * 1.15), xlim=(t["threshold"].min(), t["threshold"].max()),
           xlabel="Threshold probability", ylabel="Net benefit")
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)


def plot_km(time, event, groups=None, ax=None, risk_times: Sequence[float] | None = None, show_ci: bool = True,
            time_label: str = "Time (months)", title: str | None = None):
    """Kaplan-Meier curves with censoring ticks, log-rank p and a numbers-at-risk table
    under the axes."""
    with _style():
        ax = _axes(ax, figsize=(5.0, 4.4))
        km = stats.kaplan_meier(time, event, groups, risk_times=risk_times)
        t = np.asarray(time, float)
        e = np.asarray(event).astype(int)
        g = np.full(t.size, "all", dtype=object) if groups is None else np.asarray(groups)
        names = list(km.medians["group"])
        for i, level in enumerate(names):
            col = PALETTE[i % len(PALETTE)]
            tab = km.table[km.table["group"] == level]
            med = km.medians.iloc[i]
            label = "All patients" if groups is None else str(level)
            label += f" (n={med['n']}, median {med['median']:.1f})" if np.isfinite(med["median"]) else f" (n={med['n']})"
            ax.step(tab["time"], tab["survival"], where="post", color=col, label=label)
            if show_ci:
                ax.fill_between(tab["time"], tab["ci_low"], tab["ci_high"], step="post", color=col, alpha=0.12, lw=0)
            m = (g == level) & (e == 0)
            if m.any():  # censoring marks at S(t) of the censored times
                idx = np.searchsorted(tab["time"].to_numpy(), t[m], side="right") - 1
                s_at = tab["survival"].to_numpy()[idx]
                ax.plot(t[m], s_at, "|", color=col, ms=5, mew=0.8)
        if groups is not None and len(names) > 1:
            lr = stats.logrank_test(time, event, groups)
            ax.text(0.98, 0.98, f"Log-rank {_fmt_p(lr.p_value)}", transform=ax.transAxes, ha="right", va="top")
        ax.set(ylim=(-0.02, 1.02), xlim=(0, None), xlabel=time_label, ylabel="Survival probability")
        ax.legend(loc="lower left")
        # Numbers at risk under the axes: x in data units, y in axes fraction.
        ar = km.at_risk
        ax.set_xticks(ar["time"].unique())
        trans = ax.get_xaxis_transform()
        ax.text(0, -0.2, "Number at risk", transform=trans, ha="left", va="top", fontweight="bold")
        for i, level in enumerate(names):
            rows = ar[ar["group"] == level]
            y_pos = -0.27 - 0.065 * i
            ax.text(-0.07, y_pos, "All" if groups is None else str(level), transform=ax.transAxes, ha="right",
                    va="top", color=PALETTE[i % len(PALETTE)])
            for _, r in rows.iterrows():
                ax.text(r["time"], y_pos, str(int(r["n_at_risk"])), transform=trans, ha="center", va="top",
                        color=PALETTE[i % len(PALETTE)])
        if title:
            ax.set_title(title)
    return ax


def plot_forest(table: pd.DataFrame, ax=None, estimate: str = "hr", xlabel: str = "Hazard ratio (95% CI)",
                title: str | None = None):
    """Forest plot of ratios with CIs on a log axis (e.g. ``CoxResult.table``).

    ``table`` needs covariate, ``estimate``, ci_low, ci_high and, optionally, level and p_value.
    """
    need = {"covariate", estimate, "ci_low", "ci_high"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise DataError(f"the forest plot needs columns {sorted(need)}.", fix="Pass CoxResult.table or similar.")
    tab = table.dropna(subset=[estimate, "ci_low", "ci_high"]).reset_index(drop=True)
    if tab.empty:
        raise DataError("no estimate to plot.", fix="Check the model table.")
    with _style():
        ax = _axes(ax, figsize=(5.5, 0.8 + 0.35 * len(tab)))
        ypos = np.arange(len(tab))[::-1]
        ax.errorbar(tab[estimate], ypos, xerr=[tab[estimate] - tab["ci_low"], tab["ci_high"] - tab[estimate]],
                    fmt="s", color=PALETTE[0], ms=4, capsize=2, lw=1)
        ax.axvline(1, color=GREY, ls="--", lw=0.8)
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter

        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.5, 1, 2 rather than 5x10^-1
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        labels = [f"{r.covariate} [{r.level}]" if "level" in tab and pd.notna(getattr(r, "level", None)) else str(r.covariate)
                  for r in tab.itertuples()]
        ax.set_yticks(ypos, labels)
        ax.set_ylim(-0.7, len(tab) - 0.3)
        trans = ax.get_yaxis_transform()
        for y_, r in zip(ypos, tab.itertuples()):
            txt = f"{getattr(r, estimate):.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})"
            if "p_value" in tab:
                txt += f", {_fmt_p(r.p_value)}"
            ax.text(1.02, y_, txt, transform=trans, va="center", ha="left", fontsize=8)
        ax.set(xlabel=xlabel, ylabel="Covariate")
        ax.grid(axis="y", visible=False)
        if title:
            ax.set_title(title)
    return ax


def plot_score_by_group(score, groups, ax=None, kind: str = "box", ylabel: str = "Radscore",
                        xlabel: str = "Response group", title: str | None = None):
    """Box or violin plot of a score by group with jittered points and a rank test p-value
    (Mann-Whitney U for two groups, Kruskal-Wallis for more)."""
    from scipy import stats as sps

    from radscore.stats._base import as_float

    s = as_float(score, "score")
    g = np.asarray(groups)
    if g.size != s.size:
        raise DataError(f"groups has {g.size} values but score has {s.size}.", fix="One group per patient.")
    levels = sorted(pd.unique(g), key=str)
    if len(levels) < 2:
        raise DataError("need at least two groups to compare.", fix="Check the grouping variable.")
    data = [s[g == lv] for lv in levels]
    if len(levels) == 2:
        p = sps.mannwhitneyu(data[0], data[1], alternative="two-sided").pvalue
        test = "Mann-Whitney"
    else:
        p = sps.kruskal(*data).pvalue
        test = "Kruskal-Wallis"
    with _style():
        ax = _axes(ax, figsize=(3.6, 3.8))
        pos = np.arange(1, len(levels) + 1)
        if kind == "violin":
            parts = ax.violinplot(data, pos, showmedians=True)
            for i, body in enumerate(parts["bodies"]):
                body.set_facecolor(PALETTE[i % len(PALETTE)])
                body.set_alpha(0.35)
        elif kind == "box":
            ax.boxplot(data, positions=pos, widths=0.5, showfliers=False, medianprops={"color": "black"})
        else:
            raise DataError(f"unknown kind {kind!r}.", fix='Use "box" or "violin".')
        rng = np.random.default_rng(0)  # fixed jitter: same figure every run
        for i, d in enumerate(data):
            ax.plot(pos[i] + rng.uniform(-0.12, 0.12, d.size), d, "o", ms=3, alpha=0.6,
                    color=PALETTE[i % len(PALETTE)])
        ax.set_xticks(pos, [f"{lv}\n(n={d.size})" for lv, d in zip(levels, data)])
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_title(title or f"{test} {_fmt_p(p)}")
    return ax


def plot_waterfall(score, y=None, cutoff: float = 0.0, ax=None, labels: tuple[str, str] = ("Non-responder", "Responder"),
                   ylabel: str = "Radscore", title: str | None = None):
    """Per-patient waterfall: bars of score sorted high to low, coloured by outcome, with the
    cutoff line."""
    from radscore.stats._base import as_binary, as_float

    s = as_float(score, "score")
    yy = None if y is None else as_binary(y, require_both=False)
    if yy is not None and yy.size != s.size:
        raise DataError(f"y has {yy.size} values but score has {s.size}.", fix="One outcome per patient.")
    order = np.argsort(-s, kind="stable")
    with _style():
        ax = _axes(ax, figsize=(5.5, 3.4))
        x = np.arange(s.size)
        if yy is None:
            ax.bar(x, s[order], color=PALETTE[0], width=0.85)
        else:
            cols = np.where(yy[order] == 1, PALETTE[1], PALETTE[0])
            ax.bar(x, s[order], color=cols, width=0.85)
            from matplotlib.patches import Patch

            ax.legend(handles=[Patch(color=PALETTE[1], label=labels[1]), Patch(color=PALETTE[0], label=labels[0])],
                      loc="upper right")
        ax.axhline(cutoff, color="black", ls="--", lw=0.9)
        ax.text(s.size - 0.5, cutoff, f" cutoff {cutoff:.3g}", va="bottom", ha="right", fontsize=8)
        ax.set(xlabel="Patients (sorted by score)", ylabel=ylabel, xlim=(-0.7, s.size - 0.3))
        ax.set_xticks([])
        ax.grid(axis="x", visible=False)
        if title:
            ax.set_title(title)
    return ax
