"""TME phenotype by k-means on cell abundances, and the Rad-Score that predicts it (PROTOCOL B1, B3).

The mCRC seed clusters 24 TME cell subpopulations with k-means (k = 2) into an
immune-enhanced ("hot") and an immune-suppressed ("cold") phenotype, the hot one having
more immune-cell infiltration; it then trains a random forest on radiomic features to
predict the phenotype (the Rad-Score; high/low by the median) and compares other
classifiers; both come from :mod:`radscore.modeling`. Abundances are standardised (z-scores across patients) before clustering
so that no cell type dominates by its scale; k-means is seeded (``n_init=10``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from radscore.analyses._shared import auc_row, fmt_p, km_figure, new_figure, tool
from radscore.analyses.context import AnalysisContext, patient_table, pick_lesion, require_columns, table_patients
from radscore.errors import DataError
from radscore.report.sections import Section

logger = logging.getLogger(__name__)

#: Immune (effector/antigen-presenting) cell types whose mean standardised abundance
#: marks the hot cluster; the rest (Tregs, M2 macrophages, CAFs, MDSCs, endothelial cells,
#: neutrophils, mast cells, Th2 cells, pericytes, fibroblasts) are suppressive/stromal.
DEFAULT_IMMUNE_CELLS = (
    "CD8 T cells", "CD4 memory T cells", "CD4 naive T cells", "NK cells", "B cells", "M1 macrophages",
    "Dendritic cells", "Tfh cells", "Th1 cells", "Th17 cells", "Gamma delta T cells", "Cytotoxic cells",
    "Plasma cells", "Activated NK cells",
)


def tme_phenotype(cells: pd.DataFrame, immune: Sequence[str], n_clusters: int = 2, seed: int = 0) -> pd.Series:
    """Cluster patients on standardised cell abundances and name the clusters.

    Parameters
    ----------
    cells : DataFrame
        Patients x cell types (no missing values).
    immune : sequence of str
        The immune cell columns; the cluster whose centroid has the highest mean over them
        is ``"hot"``, the lowest ``"cold"``, any others ``"intermediate_<i>"``.
    n_clusters : int
    seed : int

    Returns
    -------
    Series of str, index as ``cells``.

    References
    ----------
    MacQueen 1967 (k-means), scikit-learn ``KMeans``; the naming rule follows the mCRC seed
    ("immunopotentiation" = relatively large infiltration of immune cells).
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    present = [c for c in immune if c in cells.columns]
    if not present:
        raise DataError(f"none of the immune cell columns {list(immune)[:4]}... is in the cell table.",
                        fix="set analyses.tme.immune_cells to the table's immune columns.")
    if len(cells) < n_clusters:
        raise DataError(f"{len(cells)} patients cannot form {n_clusters} clusters.", fix="add patients.")
    z = StandardScaler().fit_transform(cells.to_numpy(float))
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(z)
    idx = [cells.columns.get_loc(c) for c in present]
    immune_mean = km.cluster_centers_[:, idx].mean(axis=1)
    order = np.argsort(-immune_mean, kind="stable")
    names = {int(order[0]): "hot", int(order[-1]): "cold"}
    for i, c in enumerate(order[1:-1], 1):
        names[int(c)] = f"intermediate_{i}"
    return pd.Series([names[int(k)] for k in km.labels_], index=cells.index, name="tme_phenotype")


def heatmap_figure(cells: pd.DataFrame, phenotype: pd.Series):
    """Standardised abundances, patients sorted by phenotype (columns) x cell types (rows)."""

    order = phenotype.sort_values(kind="mergesort").index
    z = (cells - cells.mean()) / cells.std(ddof=0).replace(0, 1)
    fig, ax = new_figure((7, 0.22 * cells.shape[1] + 1.5))
    im = ax.imshow(z.loc[order].T.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-2.5, vmax=2.5)
    ax.set_yticks(range(cells.shape[1]), cells.columns, fontsize=6)
    ph = phenotype.loc[order].to_numpy()
    cuts = np.flatnonzero(ph[1:] != ph[:-1]) + 0.5
    for c in cuts:
        ax.axvline(c, c="k", lw=1)
    starts = np.r_[0, cuts + 0.5]
    ax.set_xticks(starts, ph[starts.astype(int)], fontsize=7)
    fig.colorbar(im, ax=ax, label="z-score")
    fig.tight_layout()
    return fig


def radscore_for_phenotype(ctx: AnalysisContext, phenotype: pd.Series):
    """The Rad-Score for the hot phenotype, and the seed's classifier comparison.

    ``radscore.modeling.RadscoreClassifier(model="random_forest", cutoff="median")`` on the
    baseline (primary-lesion) features: selection and the forest fitted on training
    patients with a phenotype only; Rad-Score = its log-odds, high/low by the training
    median. ``radscore.modeling.compare_classifiers`` fits the seed's zoo on the same
    training patients. Returns per-patient scores, the Rad-Score AUCs (DeLong CI) and the
    comparison (``ComparisonResult``: AUCs and calibration curves).
    """
    RadscoreClassifier = tool("radscore.modeling", "RadscoreClassifier")
    compare = tool("radscore.modeling.compare", "compare_classifiers")
    f = ctx.features
    if "timepoint" in f:
        f = f[f["timepoint"].astype(str) == "baseline"]
    meta = [c for c in ("patient_id", "timepoint", "lesion_id", "site", "cohort") if c in f.columns]
    if "lesion_id" in f:
        f = pick_lesion(f.assign(lesion_id=f["lesion_id"].astype(str), radscore=0.0), "primary").drop(columns="radscore")
    cols = [c for c in f.columns if c not in meta and pd.api.types.is_numeric_dtype(f[c])]
    cohort = patient_table(ctx, "baseline").set_index("patient_id")["cohort"]
    df = f.set_index("patient_id")[cols].join(phenotype.rename("phenotype"), how="inner").join(cohort, how="inner")
    df = df[df["phenotype"].isin(["hot", "cold"])]
    y = (df["phenotype"] == "hot").astype(int)
    train = (df["cohort"] == "training").to_numpy()
    if not cols or y[train].nunique() < 2:
        raise DataError("no radiomic features or one phenotype among training patients.", fix="check the inputs.")
    X = df[cols]
    clf = RadscoreClassifier(model="random_forest", cutoff="median", selection=ctx.config.selection,
                             cv_folds=min(ctx.config.model.cv_folds, 5), random_state=ctx.seed)
    clf.fit(X[train], y[train])
    score = clf.decision_function(X)
    out = pd.DataFrame({"patient_id": df.index, "cohort": df["cohort"].to_numpy(), "phenotype": df["phenotype"].to_numpy(),
                        "rad_score": score, "rad_score_group": np.where(score > clf.cutoff_, "high", "low")})
    aucs = pd.DataFrame([auc_row(y[m], score[m], f"Rad-Score (random forest), {name}")
                         for name, m in (("training", train), ("testing", ~train)) if m.any()])
    cohorts = {name: (X[m], y[m]) for name, m in (("training", train), ("testing", ~train)) if m.any()}
    zoo = compare(X[train], y[train], cohorts, selection=ctx.config.selection, random_state=ctx.seed)
    return out, aucs, zoo

def _calibration_figure(cal: pd.DataFrame):
    """The classifiers' quantile-binned calibration curves, one panel per cohort."""
    cohorts = list(pd.unique(cal["cohort"])) or ["testing"]
    fig, axes = new_figure((4.2 * len(cohorts), 4.2), 1, len(cohorts), squeeze=False)
    for ax, c in zip(axes[0], cohorts):
        for i, (m, sub) in enumerate(cal[cal["cohort"] == c].groupby("model", sort=True)):
            ax.plot(sub["mean_predicted"], sub["fraction_positive"], marker="o", ms=3, color=f"C{i}", label=m)
        ax.plot([0, 1], [0, 1], ls=":", c="grey")
        ax.set(xlabel="predicted probability of hot", ylabel="observed fraction hot", title=c)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def run(ctx: AnalysisContext) -> list[Section]:
    s = ctx.config.analyses.tme
    key, title = "tme", "TME phenotype (k-means on cell abundances)"
    if ctx.cells is None or ctx.cells.empty:
        return [Section(key, title, skipped="no cell-abundance table (tables.cells)")]
    cells = table_patients(ctx.cells, ctx, "cells").dropna()
    immune = s.immune_cells or list(DEFAULT_IMMUNE_CELLS)
    phen = tme_phenotype(cells, immune, s.n_clusters, ctx.seed)
    present = [c for c in immune if c in cells.columns]
    tables = {"phenotype_counts": phen.value_counts().rename("n").rename_axis("phenotype").reset_index(),
              "cluster_means": cells.groupby(phen).mean().T.rename_axis("cell_type").reset_index()}
    figures = {"heatmap": heatmap_figure(cells, phen)}
    df = patient_table(ctx, "baseline").merge(phen.rename_axis("patient_id").reset_index(), on="patient_id")
    surv = ctx.config.survival
    text = (f"k-means (k = {s.n_clusters}, seed {ctx.seed}, z-scored abundances) on {cells.shape[1]} cell types of "
            f"{len(cells)} patients; the hot cluster is the one with the highest mean standardised abundance of "
            f"{len(present)} immune cell types ({', '.join(present[:5])}...).")
    if surv.os_time and not require_columns(df, [surv.os_time, surv.os_event]):
        figures["os_km"] = km_figure(df[surv.os_time], df[surv.os_event], df["tme_phenotype"], "OS by TME phenotype")
    try:
        scores, aucs, zoo = radscore_for_phenotype(ctx, phen)
        tables["radscore_auc"], tables["classifier_comparison"] = aucs, zoo.auc
        tables["classifier_calibration"], tables["radscore_scores"] = zoo.calibration, scores
        figures["classifier_calibration"] = _calibration_figure(zoo.calibration)
        km = scores.merge(df[["patient_id", *[c for c in (surv.os_time, surv.os_event, surv.pfs_time, surv.pfs_event)
                                                if c and c in df]]], on="patient_id")
        for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event)):
            if t and not require_columns(km, [t, e]):
                figures[f"{name}_km_rad_score"] = km_figure(km[t], km[e], km["rad_score_group"],
                                                            f"{name.upper()} by Rad-Score group (training median)")
        rf_test = aucs[aucs["analysis"] == "Rad-Score (random forest), testing"]
        auc_t, p_t = (rf_test["auc"].iloc[0], rf_test["p_value"].iloc[0]) if len(rf_test) else (np.nan, np.nan)
        text += (" A random-forest Rad-Score predicting the hot phenotype was fitted on training features; "
                 f"testing AUC {auc_t:.3f} (p = {fmt_p(p_t)}); "
                 "high/low Rad-Score by the training median.")
    except DataError as exc:
        text += f" Rad-Score for the phenotype not fitted: {exc.problem}"
    return [Section(key, title, text=text, tables=tables, figures=figures)]
