"""Dynamic prediction from follow-up scans (PROTOCOL A12; NSCLC seed, Fig. 4).

Follow-up scans are scored with the unchanged baseline model and its training cutoff.
The follow-up Radscore is evaluated against progression within the configured window
(6 months) after the follow-up scan (ROC with DeLong CI, PR), PFS from the follow-up scan
is compared between its high/low groups (KM, log-rank), and the paired baseline ->
follow-up change is tested within each follow-up outcome group (Wilcoxon signed-rank).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from radscore.analyses._shared import KmCurves, auc_row, fmt_p, new_figure, roc_figure
from radscore.analyses.context import AnalysisContext, patient_table, require_columns
from radscore.errors import DataError
from radscore.report.figures import plot_calibration, plot_dca, plot_pr, plot_score_by_group
from radscore.report.sections import Section
from radscore.stats import pr_curve

KEY, TITLE = "dynamic", "Dynamic prediction from follow-up scans"
SECTIONS = ((KEY, TITLE),)


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


@dataclass(frozen=True)
class DynamicResult:
    """Follow-up Radscore against progression after the follow-up scan.

    Attributes
    ----------
    y, radscore, probability : ndarray
        Per follow-up patient with a known status: progression within the window (0/1),
        follow-up Radscore and model probability.
    discrimination : DataFrame
        AUC (DeLong CI) and, with two or more of each class, PR AUC and its permutation p.
    paired_change : DataFrame
        :func:`paired_change` of the patients scanned at both time points.
    per_patient : DataFrame
        patient_id, baseline, followup, progression of those patients.
    pfs : KmCurves or None
        PFS from the follow-up scan by follow-up group; None with ``pfs_note`` saying why.
    pfs_note : str
    window_months, cutoff : float
    model, positive_name, negative_name : str
    """

    y: np.ndarray
    radscore: np.ndarray
    probability: np.ndarray
    discrimination: pd.DataFrame
    paired_change: pd.DataFrame
    per_patient: pd.DataFrame
    pfs: KmCurves | None
    pfs_note: str
    window_months: float
    cutoff: float
    model: str
    positive_name: str
    negative_name: str

    def sections(self) -> list[Section]:
        y, rs, pos, neg = self.y, self.radscore, self.positive_name, self.negative_name
        figures = {"roc": roc_figure({"follow-up Radscore": (y, rs)}, "Follow-up Radscore")}
        if 0 < y.sum() < y.size:
            figures["pr"], ax = new_figure((4.8, 4.8))
            plot_pr(y, {"follow-up Radscore": rs}, ax=ax)
            figures["calibration"], ax = new_figure((4.8, 4.8))
            plot_calibration(y, {"follow-up": self.probability}, ax=ax, bins=min(5, max(2, len(y) // 8)))
            figures["decision_curve"], ax = new_figure((4.8, 3.6))
            plot_dca(y, {"follow-up Radscore": self.probability}, ax=ax)
            figures["by_outcome"], ax = new_figure((4.2, 4.2))
            plot_score_by_group(rs, np.where(y == 1, f"{pos} (follow-up)", f"{neg} (follow-up)"), ax=ax,
                                ylabel="Follow-up Radscore", xlabel="Outcome after the follow-up scan")
        if self.pfs is not None:
            figures["pfs_followup_km"] = self.pfs.figure()
        pp = self.per_patient
        figures["trajectories"] = trajectory_figure(pp["baseline"], pp["followup"], pp["progression"], self.cutoff,
                                                    labels=(neg, pos))
        d = self.discrimination.iloc[0]
        text = (f"{y.size} patients with a follow-up scan; {int(y.sum())} progressed within "
                f"{self.window_months:g} months after it. Follow-up scans were scored with the baseline "
                f"{self.model} model and its training cutoff ({self.cutoff:.3f}). Follow-up AUC {d['auc']:.3f} "
                f"(95% CI {d['ci_low']:.3f}-{d['ci_high']:.3f}, p = {fmt_p(d['p_value'])}).")
        if self.pfs_note:
            text += " PFS from the follow-up scan not analysed: " + self.pfs_note
        tables = {"discrimination": self.discrimination, "paired_change": self.paired_change,
                  "per_patient": self.per_patient}
        return [Section(KEY, TITLE, text=text, tables=tables, figures=figures)]


def compute(ctx: AnalysisContext) -> DynamicResult:
    """Evaluate the follow-up Radscore; DataError naming the absent follow-up scans or outcome."""
    s = ctx.settings.dynamic
    fu = patient_table(ctx, "followup")
    if fu.empty:
        raise DataError("no follow-up scans (timepoint 'followup') in the scores table")
    pfs_note = require_columns(fu, [s.pfs_time, s.pfs_event]) or ""
    if require_columns(fu, [s.progression_column]) and not pfs_note:
        fu[s.progression_column] = progression_within(fu[s.pfs_time], fu[s.pfs_event], s.progression_window_months)
    reason = require_columns(fu, [s.progression_column])
    if reason:
        raise DataError(reason + f" (nor {s.pfs_time}/{s.pfs_event} to derive it)")
    fu = fu[fu[s.progression_column].notna()]
    y, rs = fu[s.progression_column].astype(int).to_numpy(), fu["radscore"].to_numpy(float)
    disc = pd.DataFrame([auc_row(y, rs, f"follow-up Radscore vs progression within "
                                        f"{s.progression_window_months:g} months")])
    if 1 < y.sum() < y.size - 1:
        pr = pr_curve(y, rs, random_state=ctx.seed)
        disc["pr_auc"], disc["pr_p_value"] = pr.average_precision, pr.p_value
    pfs = None
    if not pfs_note:
        ok = fu[s.pfs_time].notna() & fu[s.pfs_event].notna()
        pfs = KmCurves.of(fu.loc[ok, s.pfs_time], fu.loc[ok, s.pfs_event], fu.loc[ok, "group"],
                          "PFS from the follow-up scan by follow-up Radscore group")
    base = patient_table(ctx, "baseline").set_index("patient_id")["radscore"]
    paired = fu[fu["patient_id"].isin(base.index)]
    b = base.loc[paired["patient_id"]].to_numpy()
    o = paired[s.progression_column].astype(int).to_numpy()
    pos, neg = ctx.endpoint.positive_name, ctx.endpoint.negative_name
    return DynamicResult(
        y=y, radscore=rs, probability=fu["probability"].to_numpy(float), discrimination=disc,
        paired_change=paired_change(b, paired["radscore"], o, labels=(f"{neg} (follow-up)", f"{pos} (follow-up)")),
        per_patient=pd.DataFrame({"patient_id": paired["patient_id"].to_numpy(), "baseline": b,
                                  "followup": paired["radscore"].to_numpy(), "progression": o}),
        pfs=pfs, pfs_note=pfs_note, window_months=s.progression_window_months, cutoff=ctx.cutoff(),
        model=ctx.model, positive_name=pos, negative_name=neg)
