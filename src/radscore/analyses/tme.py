"""TME phenotype by k-means on cell abundances, and the Rad-Score that predicts it (PROTOCOL B1, B3).

The mCRC seed clusters 24 TME cell subpopulations with k-means (k = 2) into an
immune-enhanced ("hot") and an immune-suppressed ("cold") phenotype, the hot one having
more immune-cell infiltration; it then trains a random forest on radiomic features to
predict the phenotype (the Rad-Score; high/low by the median) and compares other
classifiers; both come from :mod:`radscore.modeling`. Abundances are standardised
(z-scores across patients) before clustering so that no cell type dominates by its scale;
k-means is seeded (``n_init=10``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from radscore.analyses._shared import KmCurves, auc_row, fmt_p, new_figure
from radscore.analyses.context import AnalysisContext, patient_table, require_columns, table_patients
from radscore.config import SelectionSettings
from radscore.errors import DataError
from radscore.modeling import ComparisonResult, RadscoreClassifier
from radscore.modeling.compare import compare_classifiers
from radscore.modeling.patients import patient_rows
from radscore.report.sections import Section

KEY, TITLE = "tme", "TME phenotype (k-means on cell abundances)"
SECTIONS = ((KEY, TITLE),)

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
    present = [c for c in immune if c in cells.columns]
    if not present:
        raise DataError(f"none of the immune cell columns {list(immune)[:4]}... is in the cell table.",
                        fix="set analyses.tme.immune_cells to the table's immune columns.")
    if len(cells) < n_clusters:
        raise DataError(f"{len(cells)} patients cannot form {n_clusters} clusters.", fix="add patients.")
    z = StandardScaler().fit_transform(cells.to_numpy(float))
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(z)
    idx = [cells.columns.get_loc(c) for c in present]
    order = np.argsort(-km.cluster_centers_[:, idx].mean(axis=1), kind="stable")
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


def calibration_figure(cal: pd.DataFrame):
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


@dataclass(frozen=True)
class PhenotypeRadScore:
    """The random-forest Rad-Score for the hot phenotype and the classifier comparison.

    Attributes
    ----------
    scores : DataFrame
        patient_id, cohort, phenotype, rad_score (log-odds), rad_score_group (training median).
    auc : DataFrame
        Rad-Score AUC (DeLong CI) per cohort.
    comparison : ComparisonResult
        The seed's classifiers on the same training patients (AUCs, calibration curves).
    """

    scores: pd.DataFrame
    auc: pd.DataFrame
    comparison: ComparisonResult


def radscore_for_phenotype(features: pd.DataFrame, phenotype: pd.Series, cohort: pd.Series,
                           selection: SelectionSettings, cv_folds: int, seed: int) -> PhenotypeRadScore:
    """Fit ``RadscoreClassifier(model="random_forest", cutoff="median")`` for the hot phenotype.

    Baseline primary-lesion features; selection and the forest are fitted on training
    patients with a phenotype only (``cohort`` is ``"training"``/``"testing"`` by patient);
    the inner CV uses at most 5 folds. ``compare_classifiers`` fits the seed's zoo on the
    same training patients.
    """
    f = patient_rows(features, rule="primary", timepoint="baseline")
    meta = [c for c in ("patient_id", "timepoint", "lesion_id", "site", "cohort") if c in f.columns]
    cols = [c for c in f.columns if c not in meta and pd.api.types.is_numeric_dtype(f[c])]
    df = f.set_index("patient_id")[cols].join(phenotype.rename("phenotype"), how="inner").join(cohort, how="inner")
    df = df[df["phenotype"].isin(["hot", "cold"])]
    y = (df["phenotype"] == "hot").astype(int)
    train = (df["cohort"] == "training").to_numpy()
    if not cols or y[train].nunique() < 2:
        raise DataError("no radiomic features or one phenotype among training patients.", fix="check the inputs.")
    X = df[cols]
    clf = RadscoreClassifier(model="random_forest", cutoff="median", selection=selection,
                             cv_folds=min(cv_folds, 5), random_state=seed)
    clf.fit(X[train], y[train])
    score = clf.decision_function(X)
    cohorts = {name: m for name, m in (("training", train), ("testing", ~train)) if m.any()}
    return PhenotypeRadScore(
        scores=pd.DataFrame({"patient_id": df.index, "cohort": df["cohort"].to_numpy(),
                             "phenotype": df["phenotype"].to_numpy(), "rad_score": score,
                             "rad_score_group": np.where(score > clf.cutoff_, "high", "low")}),
        auc=pd.DataFrame([auc_row(y[m], score[m], f"Rad-Score (random forest), {name}") for name, m in cohorts.items()]),
        comparison=compare_classifiers(X[train], y[train], {name: (X[m], y[m]) for name, m in cohorts.items()},
                                       selection=selection, random_state=seed))


@dataclass(frozen=True)
class TmeResult:
    """TME phenotypes, their survival, and the Rad-Score predicting them.

    Attributes
    ----------
    cells : DataFrame
        The abundances clustered (patients x cell types).
    phenotype : Series
        ``hot``/``cold`` (/``intermediate_<i>``) by patient.
    phenotype_counts, cluster_means : DataFrame
    immune_present : tuple of str
        The immune cell columns that named the clusters.
    km : dict of str to KmCurves
        ``os_km`` by phenotype; ``os_km_rad_score``/``pfs_km_rad_score`` by Rad-Score group.
    rad_score : PhenotypeRadScore or None
        None with ``rad_score_note`` saying why it was not fitted.
    rad_score_note : str
    n_clusters, seed : int
    """

    cells: pd.DataFrame
    phenotype: pd.Series
    phenotype_counts: pd.DataFrame
    cluster_means: pd.DataFrame
    immune_present: tuple[str, ...]
    km: dict[str, KmCurves]
    rad_score: PhenotypeRadScore | None
    rad_score_note: str
    n_clusters: int
    seed: int

    def sections(self) -> list[Section]:
        tables = {"phenotype_counts": self.phenotype_counts, "cluster_means": self.cluster_means}
        figures = {"heatmap": heatmap_figure(self.cells, self.phenotype)}
        if "os_km" in self.km:
            figures["os_km"] = self.km["os_km"].figure()
        text = (f"k-means (k = {self.n_clusters}, seed {self.seed}, z-scored abundances) on {self.cells.shape[1]} "
                f"cell types of {len(self.cells)} patients; the hot cluster is the one with the highest mean "
                f"standardised abundance of {len(self.immune_present)} immune cell types "
                f"({', '.join(self.immune_present[:5])}...).")
        r = self.rad_score
        if r is None:
            text += f" Rad-Score for the phenotype not fitted: {self.rad_score_note}"
        else:
            tables.update(radscore_auc=r.auc, classifier_comparison=r.comparison.auc,
                          classifier_calibration=r.comparison.calibration, radscore_scores=r.scores)
            figures["classifier_calibration"] = calibration_figure(r.comparison.calibration)
            figures.update({k: v.figure() for k, v in self.km.items() if k != "os_km"})
            test = r.auc[r.auc["analysis"] == "Rad-Score (random forest), testing"]
            auc_t, p_t = (test["auc"].iloc[0], test["p_value"].iloc[0]) if len(test) else (np.nan, np.nan)
            text += (" A random-forest Rad-Score predicting the hot phenotype was fitted on training features; "
                     f"testing AUC {auc_t:.3f} (p = {fmt_p(p_t)}); high/low Rad-Score by the training median.")
        return [Section(KEY, TITLE, text=text, tables=tables, figures=figures)]


def compute(ctx: AnalysisContext) -> TmeResult:
    """Cluster the cell abundances, then fit the Rad-Score; DataError without a cell table."""
    s, surv = ctx.settings.tme, ctx.survival
    if ctx.cells is None or ctx.cells.empty:
        raise DataError("no cell-abundance table (tables.cells)")
    cells = table_patients(ctx.cells, ctx, "cells").dropna()
    immune = s.immune_cells or list(DEFAULT_IMMUNE_CELLS)
    phen = tme_phenotype(cells, immune, s.n_clusters, ctx.seed)
    pt = patient_table(ctx, "baseline")
    df = pt.merge(phen.rename_axis("patient_id").reset_index(), on="patient_id")
    km = {}
    if surv.os_time and not require_columns(df, [surv.os_time, surv.os_event]):
        km["os_km"] = KmCurves.of(df[surv.os_time], df[surv.os_event], df["tme_phenotype"], "OS by TME phenotype")
    rad, note = None, ""
    try:
        rad = radscore_for_phenotype(ctx.features, phen, pt.set_index("patient_id")["cohort"], ctx.selection,
                                     ctx.cv_folds, ctx.seed)
    except DataError as exc:
        note = exc.problem
    else:
        times = [c for c in (surv.os_time, surv.os_event, surv.pfs_time, surv.pfs_event) if c and c in df]
        by_group = rad.scores.merge(df[["patient_id", *times]], on="patient_id")
        for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event)):
            if t and not require_columns(by_group, [t, e]):
                km[f"{name}_km_rad_score"] = KmCurves.of(by_group[t], by_group[e], by_group["rad_score_group"],
                                                         f"{name.upper()} by Rad-Score group (training median)")
    return TmeResult(
        cells=cells, phenotype=phen,
        phenotype_counts=phen.value_counts().rename("n").rename_axis("phenotype").reset_index(),
        cluster_means=cells.groupby(phen).mean().T.rename_axis("cell_type").reset_index(),
        immune_present=tuple(c for c in immune if c in cells.columns), km=km, rad_score=rad, rad_score_note=note,
        n_clusters=s.n_clusters, seed=ctx.seed)
