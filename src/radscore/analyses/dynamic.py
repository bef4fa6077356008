"""Dynamic prediction from follow-up scans (PROTOCOL A12; NSCLC seed, Fig. 4).

Follow-up scans are scored with the unchanged baseline model and its training cutoff.
The follow-up Radscore is evaluated against progression within the configured window
(6 months) after the follow-up scan (ROC with DeLong CI, PR), PFS from the follow-up scan
is compared between its high/low groups (KM, log-rank), and the paired baseline ->
follow-up change is tested within each follow-up outcome group (Wilcoxon signed-rank).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.analyses._shared import auc_row, fmt_p, km_figure, new_figure, roc_figure, tool
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.report.sections import Section

logger = logging.getLogger(__name__)


def paired_change(baseline, followup, outcome, labels: tuple[str, str] = ("DCB", "NDB")) -> pd.DataFrame:
    """Baseline -> follow-up Radscore change per outcome group, Wilcoxon signed-rank test.

    Parameters
    ----------
    baseline, followup : array-like of float
        The same patients' Radscores at the two time points.
    outcome : array-like of 0/1
        Follow-up outcome (1 = progression within the window); ``labels[o]`` names group o.

    Returns
    -------
    DataFrame
        One row per group: n, median baseline/follow-up/change, Wilcoxon statistic and
        two-sided p (scipy ``wilcoxon``, exact for small n without ties; Wilcoxon 1945).
    """
    b, f, o = np.asarray(baseline, float), np.asarray(followup, float), np.asarray(outcome, int)
    rows = []
    for value, name in enumerate(labels):
        sel = o == value
        d = f[sel] - b[sel]
        stat = p = np.nan
        if sel.sum() >= 2 and np.any(d != 0):
            res = sps.wilcoxon(f[sel], b[sel])
            stat, p = float(res.statistic), float(res.pvalue)
        rows.append({
            "group": name, "n": int(sel.sum()),
            "median_baseline": float(np.median(b[sel])) if sel.any() else np.nan,
            "median_followup": float(np.median(f[sel])) if sel.any() else np.nan,
            "median_change": float(np.median(d)) if sel.any() else np.nan,
            "wilcoxon_statistic": stat, "p_value": p,
        })
    return pd.DataFrame(rows)


def progression_within(time, event, window: float) -> np.ndarray:
    """1 = progression within ``window`` months of the follow-up scan, 0 = event-free beyond it,
    NaN = censored before the window ends (status unknown)."""
    t, e = np.asarray(time, float), np.asarray(event, float)
    out = np.where((e == 1) & (t <= window), 1.0, np.where(t > window, 0.0, np.nan))
    out[np.isnan(t) | np.isnan(e)] = np.nan
    return out


def trajectory_figure(baseline, followup, outcome, cutoff: float, labels=("DCB", "NDB")):
    """One line per patient from baseline to follow-up, coloured by outcome, with the cutoff."""

    fig, ax = new_figure((4.5, 4.5))
    colours = ("tab:blue", "tab:red")
    for b, f, o in zip(np.asarray(baseline, float), np.asarray(followup, float), np.asarray(outcome, int)):
        ax.plot([0, 1], [b, f], marker="o", color=colours[o], alpha=0.6, lw=1)
    for o, name in enumerate(labels):
        ax.plot([], [], color=colours[o], label=f"{name} (follow-up)")
    ax.axhline(cutoff, ls="--", c="k", lw=1, label=f"cutoff {cutoff:.2f}")
    ax.set_xticks([0, 1], ["baseline", "follow-up"])
    ax.set_ylabel("Radscore")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(ctx: AnalysisContext) -> list[Section]:
    s = ctx.config.analyses.dynamic
    key, title = "dynamic", "Dynamic prediction from follow-up scans"
    fu = patient_table(ctx, "followup")
    if fu.empty:
        return [Section(key, title, skipped="no follow-up scans (timepoint 'followup') in the scores table")]
    if require_columns(fu, [s.progression_column]) and not require_columns(fu, [s.pfs_time, s.pfs_event]):
        fu[s.progression_column] = progression_within(fu[s.pfs_time], fu[s.pfs_event], s.progression_window_months)
    reason = require_columns(fu, [s.progression_column])
    if reason:
        return [Section(key, title, skipped=reason + f" (nor {s.pfs_time}/{s.pfs_event} to derive it)")]
    fu = fu[fu[s.progression_column].notna()]
    base = patient_table(ctx, "baseline").set_index("patient_id")["radscore"]
    y = fu[s.progression_column].astype(int).to_numpy()
    pos, neg = ctx.config.endpoint.positive_name, ctx.config.endpoint.negative_name
    tables: dict[str, pd.DataFrame] = {}
    figures = {}
    disc = pd.DataFrame([auc_row(y, fu["radscore"], f"follow-up Radscore vs progression within "
                                 f"{s.progression_window_months:g} months")])
    if 1 < y.sum() < y.size - 1:
        pr = tool("radscore.stats", "pr_curve")(y, fu["radscore"].to_numpy(), random_state=ctx.seed)
        disc["pr_auc"], disc["pr_p_value"] = pr.average_precision, pr.p_value
    tables["discrimination"] = disc
    figures["roc"] = roc_figure({"follow-up Radscore": (y, fu["radscore"].to_numpy())}, "Follow-up Radscore")
    if 0 < y.sum() < y.size:
        figures["pr"], ax = new_figure((4.8, 4.8))
        tool("radscore.report.figures", "plot_pr")(y, {"follow-up Radscore": fu["radscore"].to_numpy()}, ax=ax)
        prob = fu["probability"].to_numpy(float)
        figures["calibration"], ax = new_figure((4.8, 4.8))
        tool("radscore.report.figures", "plot_calibration")(y, {"follow-up": prob}, ax=ax, bins=min(5, max(2, len(y) // 8)))
        figures["decision_curve"], ax = new_figure((4.8, 3.6))
        tool("radscore.report.figures", "plot_dca")(y, {"follow-up Radscore": prob}, ax=ax)
        figures["by_outcome"], ax = new_figure((4.2, 4.2))
        tool("radscore.report.figures", "plot_score_by_group")(
            fu["radscore"].to_numpy(), np.where(y == 1, f"{pos} (follow-up)", f"{neg} (follow-up)"), ax=ax,
            ylabel="Follow-up Radscore", xlabel="Outcome after the follow-up scan")
    text = [f"{len(fu)} patients with a follow-up scan; {int(y.sum())} progressed within "
            f"{s.progression_window_months:g} months after it. Follow-up scans were scored with the baseline "
            f"{ctx.model} model and its training cutoff ({ctx.cutoff():.3f}). "
            f"Follow-up AUC {disc['auc'].iloc[0]:.3f} (95% CI {disc['ci_low'].iloc[0]:.3f}-"
            f"{disc['ci_high'].iloc[0]:.3f}, p = {fmt_p(disc['p_value'].iloc[0])})."]
    if not require_columns(fu, [s.pfs_time, s.pfs_event]):
        ok = fu[s.pfs_time].notna() & fu[s.pfs_event].notna()
        figures["pfs_followup_km"] = km_figure(
            fu.loc[ok, s.pfs_time], fu.loc[ok, s.pfs_event], fu.loc[ok, "group"],
            "PFS from the follow-up scan by follow-up Radscore group")
    else:
        text.append("PFS from the follow-up scan not analysed: " + require_columns(fu, [s.pfs_time, s.pfs_event]))
    paired = fu[fu["patient_id"].isin(base.index)]
    b = base.loc[paired["patient_id"]].to_numpy()
    o = paired[s.progression_column].astype(int).to_numpy()
    tables["paired_change"] = paired_change(b, paired["radscore"], o, labels=(f"{neg} (follow-up)", f"{pos} (follow-up)"))
    tables["per_patient"] = pd.DataFrame({"patient_id": paired["patient_id"].to_numpy(), "baseline": b,
                                          "followup": paired["radscore"].to_numpy(), "progression": o})
    figures["trajectories"] = trajectory_figure(b, paired["radscore"], o, ctx.cutoff(),
                                                labels=(f"{neg}", f"{pos}"))
    return [Section(key, title, text=" ".join(text), tables=tables, figures=figures)]
