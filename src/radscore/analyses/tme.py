"""TME phenotype by k-means on cell abundances, and the Rad-Score that predicts it (PROTOCOL B1, B3).

The mCRC seed scores 24 TME cell subpopulations from RNA-seq, clusters them with k-means
(k = 2) into an immune-enhanced ("hot") and an immune-suppressed ("cold") phenotype, the
hot one having more immune-cell infiltration, and relates each cell type to overall
survival (univariate Cox, its Fig. 4D); it then trains a random forest on radiomic
features to predict the phenotype (the Rad-Score; high/low by the median) and compares
other classifiers; both come from :mod:`radscore.modeling`.

* Abundances: a user cell table, else ssGSEA (Barbie et al., Nature 2009; gseapy through
  :func:`radscore.analyses.radiogenomics.ssgsea_scores`) of the 24 immune cell types of
  Bindea et al., Immunity 2013 (:mod:`radscore.analyses.gene_sets`).
* Phenotype: :class:`TmePhenotype` standardises the abundances (z-scores) so that no cell
  type dominates by its scale and runs seeded k-means (``n_init=10``), both fitted on the
  training patients only; other patients are assigned to the nearest training centroid.
* Cell-type Cox: HR per standard deviation of each abundance (``radscore.stats.cox``,
  lifelines), Benjamini-Hochberg q over the cell types, in all patients and per phenotype.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from statsmodels.stats.multitest import multipletests

from radscore.analyses._shared import KmCurves, auc_row, fmt_p, new_figure
from radscore.analyses.context import AnalysisContext, patient_table, require_columns, table_patients
from radscore.analyses.gene_sets import resolve_gene_sets, tme_cell_types
from radscore.analyses.radiogenomics import ssgsea_scores
from radscore.catalog import MODEL_TITLES
from radscore.config import SelectionSettings, TmeSettings
from radscore.errors import DataError
from radscore.modeling import ComparisonResult, RadscoreClassifier, feature_subset
from radscore.modeling.compare import compare_classifiers
from radscore.modeling.patients import patient_rows
from radscore.report.figures import plot_forest
from radscore.report.sections import Section
from radscore.stats.cox import cox_univariate

logger = logging.getLogger(__name__)

KEY, TITLE = "tme", "TME phenotype (k-means on cell abundances)"
SECTIONS = ((KEY, TITLE),)

#: Immune (effector/antigen-presenting) cell types of a user cell table (CIBERSORT-like
#: names) whose mean standardised abundance marks the hot cluster; the rest (Tregs, M2
#: macrophages, CAFs, MDSCs, endothelial cells, neutrophils, mast cells, Th2 cells,
#: pericytes, fibroblasts) are suppressive/stromal. Abundances scored from expression use
#: the shipped gene sets' own list (``tme_cell_types().immune``).
DEFAULT_IMMUNE_CELLS = (
    "CD8 T cells", "CD4 memory T cells", "CD4 naive T cells", "NK cells", "B cells", "M1 macrophages",
    "Dendritic cells", "Tfh cells", "Th1 cells", "Th17 cells", "Gamma delta T cells", "Cytotoxic cells",
    "Plasma cells", "Activated NK cells",
)


def cell_abundances(expression: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]] | None = None,
                    min_size: int = 1, seed: int = 0, aliases: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Cell-type abundances per patient: ssGSEA scores of cell-type gene sets.

    Parameters
    ----------
    expression : DataFrame
        Patients x genes, log2 expression. A patient whose row is all missing (no RNA-seq)
        gets NaN abundances; genes missing in some of the other patients are left out.
    gene_sets : mapping of str to sequence of str, optional
        Cell type -> genes; default the shipped Bindea 2013 sets (with their aliases).
    min_size : int
        Sets with fewer genes found in ``expression`` are left out (logged). The default 1
        keeps Bindea's one-gene sets (pDC: IL3RA; TReg: FOXP3), whose score is the gene's
        within-sample rank.
    seed : int
    aliases : mapping of str to str, optional
        Published symbol -> newer symbol, used when the published one is absent
        (:func:`radscore.analyses.gene_sets.resolve_gene_sets`); default the shipped ones
        when ``gene_sets`` is None, else none.

    Returns
    -------
    DataFrame
        Patients (index of ``expression``) x cell types, gseapy ssGSEA normalised
        enrichment scores (rank-normalised samples). ssGSEA ranks genes within each sample,
        so a patient's scores do not depend on the other patients except through gseapy's
        one global rescaling, which standardisation undoes.
    """
    if gene_sets is None:
        collection = tme_cell_types()
        gene_sets = collection.sets
        aliases = collection.aliases if aliases is None else aliases
    have = expression.dropna(how="all")
    if have.empty:
        raise DataError("no patient has expression values.", fix="check the expression table.")
    complete = have.columns[have.notna().all()]
    if len(complete) < have.shape[1]:
        logger.info("cell abundances: %d genes with missing values left out", have.shape[1] - len(complete))
    resolved = resolve_gene_sets(gene_sets, map(str, complete), aliases)
    small = {k: len(v) for k, v in resolved.items() if len(v) < min_size}
    if small:
        logger.warning("cell abundances: %d cell types with fewer than %d gene(s) in the expression table left out: "
                       "%s", len(small), min_size, small)
    scorable = {k: v for k, v in resolved.items() if k not in small}
    if not scorable:
        raise DataError(f"no cell-type gene set has {min_size} or more genes in the expression table.",
                        fix="give expression with HGNC gene symbols as columns, or a cells table (tables.cells).")
    x = have[complete].set_axis(list(map(str, complete)), axis=1)
    scores = ssgsea_scores(x, scorable, min_size=min_size, seed=seed)
    return scores.reindex(index=expression.index, columns=list(scorable)).rename_axis(columns=None)


class TmePhenotype(BaseEstimator):
    """k-means TME phenotype fitted on training patients, named hot/cold by immune abundance.

    Parameters
    ----------
    n_clusters : int
    immune : sequence of str, optional
        The immune cell columns; the cluster whose centroid has the highest mean
        standardised abundance over them is ``"hot"``, the lowest ``"cold"``, any others
        ``"intermediate_<i>"``. Default :data:`DEFAULT_IMMUNE_CELLS`.
    n_init : int
    random_state : int

    Attributes
    ----------
    scaler_ : StandardScaler
        Fitted on the training abundances.
    kmeans_ : KMeans
        Fitted on the standardised training abundances.
    cluster_names_ : ndarray of str
        Name of each k-means cluster.
    immune_present_ : tuple of str
    labels_ : ndarray of str
        Names of the training rows.
    feature_names_in_ : ndarray of str
    n_features_in_ : int

    References
    ----------
    MacQueen 1967 (k-means), scikit-learn ``KMeans``; the naming rule follows the mCRC seed
    ("immunopotentiation" = relatively large infiltration of immune cells).
    """

    def __init__(self, *, n_clusters: int = 2, immune: Sequence[str] | None = None, n_init: int = 10,
                 random_state: int = 0) -> None:
        self.n_clusters = n_clusters
        self.immune = immune
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y=None) -> TmePhenotype:
        """Fit the scaler and k-means on ``X`` (training patients x cell types, no missing values)."""
        if not isinstance(X, pd.DataFrame):
            raise DataError("the cell abundances must be a DataFrame (patients x cell types).", fix="pass a DataFrame.")
        if X.isna().any().any():
            raise DataError("training cell abundances have missing values.", fix="drop those patients before fitting.")
        immune = list(DEFAULT_IMMUNE_CELLS if self.immune is None else self.immune)
        present = [c for c in immune if c in X.columns]
        if not present:
            raise DataError(f"none of the immune cell columns {immune[:4]}... is in the cell table.",
                            fix="set analyses.tme.immune_cells to the table's immune columns.")
        if len(X) < self.n_clusters:
            raise DataError(f"{len(X)} training patients cannot form {self.n_clusters} clusters.", fix="add patients.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.scaler_ = StandardScaler().fit(X.to_numpy(float))
        self.kmeans_ = KMeans(n_clusters=self.n_clusters, n_init=self.n_init, random_state=self.random_state)
        self.kmeans_.fit(self.scaler_.transform(X.to_numpy(float)))
        idx = [X.columns.get_loc(c) for c in present]
        order = np.argsort(-self.kmeans_.cluster_centers_[:, idx].mean(axis=1), kind="stable")
        names = np.empty(self.n_clusters, dtype=object)
        names[order[0]], names[order[-1]] = "hot", "cold"
        for i, c in enumerate(order[1:-1], 1):
            names[c] = f"intermediate_{i}"
        self.cluster_names_ = names
        self.immune_present_ = tuple(present)
        self.labels_ = names[self.kmeans_.labels_]
        return self

    def predict(self, X: pd.DataFrame) -> pd.Series:
        """The phenotype of each row (nearest training centroid); NaN for rows with missing values."""
        check_is_fitted(self, "kmeans_")
        cols = list(self.feature_names_in_)
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise DataError(f"cell table lacks the fitted cell types {missing[:5]}.", fix="score the same cell types.")
        x = X[cols]
        ok = x.notna().all(axis=1).to_numpy()
        out = pd.Series(np.nan, index=X.index, dtype=object, name="tme_phenotype")
        if ok.any():
            out.iloc[np.flatnonzero(ok)] = self.cluster_names_[self.kmeans_.predict(self.scaler_.transform(
                x[ok].to_numpy(float)))]
        return out


def tme_phenotype(cells: pd.DataFrame, immune: Sequence[str], n_clusters: int = 2, seed: int = 0,
                  training: Sequence[str] | None = None) -> pd.Series:
    """Phenotype of every patient from :class:`TmePhenotype` fitted on the training rows.

    Parameters
    ----------
    cells : DataFrame
        Patients x cell types; rows with missing values get NaN.
    immune : sequence of str
    n_clusters, seed : int
    training : sequence of str, optional
        Index labels of the training patients (default all rows); their complete rows fit
        the scaler and k-means, and the other rows do not change the fit.

    Returns
    -------
    Series of object (``"hot"``, ``"cold"``, ``"intermediate_<i>"`` or NaN), index as ``cells``.
    """
    train = cells if training is None else cells.loc[cells.index.isin(list(training))]
    model = TmePhenotype(n_clusters=n_clusters, immune=immune, random_state=seed).fit(train.dropna())
    return model.predict(cells)


def cell_type_cox(cells: pd.DataFrame, time: pd.Series, event: pd.Series) -> pd.DataFrame:
    """Univariate Cox model of survival on each cell type's standardised abundance (seed Fig. 4D).

    Parameters
    ----------
    cells : DataFrame
        Patients x cell types.
    time, event : Series
        Follow-up time and event (1 = event), indexed like ``cells``.

    Returns
    -------
    DataFrame
        cell_type, n, events, hr (per standard deviation: the abundance is z-scored with the
        sample SD of the patients analysed), ci_low, ci_high (95 % Wald), p_value (Wald),
        q_value (Benjamini-Hochberg over the cell types with a p-value), ph_p_value
        (Schoenfeld-residual test of proportional hazards) and note (why a model was not
        fitted).

    References
    ----------
    Cox 1972 (lifelines ``CoxPHFitter`` through :func:`radscore.stats.cox.cox_univariate`);
    Benjamini & Hochberg 1995.
    """
    t, e = time.reindex(cells.index), event.reindex(cells.index)
    rows = []
    for c in cells.columns:
        ok = cells[c].notna() & t.notna() & e.notna()
        x = cells.loc[ok, c].astype(float)
        row = {"cell_type": c, "n": int(ok.sum()), "events": int(e[ok].sum()), "hr": np.nan, "ci_low": np.nan,
               "ci_high": np.nan, "p_value": np.nan, "ph_p_value": np.nan, "note": ""}
        sd = x.std(ddof=1) if len(x) > 1 else 0.0
        if not sd > 0:
            row["note"] = "abundance constant (or fewer than 2 patients)"
        else:
            frame = pd.DataFrame({"time": t[ok], "event": e[ok], "z": (x - x.mean()) / sd})
            try:
                fit = cox_univariate(frame, "time", "event", ["z"], warn_ph=False).iloc[0]
            except DataError as exc:
                row["note"] = exc.problem
            else:
                row.update({k: fit[k] for k in ("hr", "ci_low", "ci_high", "p_value", "ph_p_value")})
        rows.append(row)
    out = pd.DataFrame(rows)
    doubtful = out.loc[out["ph_p_value"] < 0.05, "cell_type"].tolist()
    if doubtful:
        logger.warning("cell-type Cox: proportional hazards doubtful (Schoenfeld p < 0.05, column ph_p_value) for %d of "
                    "%d cell types: %s", len(doubtful), len(out), ", ".join(map(str, doubtful)))
    out.insert(out.columns.get_loc("p_value") + 1, "q_value", np.nan)
    has_p = out["p_value"].notna()
    if has_p.any():
        out.loc[has_p, "q_value"] = multipletests(out.loc[has_p, "p_value"], method="fdr_bh")[1]
    return out


def cox_forest_figure(table: pd.DataFrame, title: str):
    """Forest plot of :func:`cell_type_cox` (HR per SD with 95 % CI), cell types in table order."""
    tab = table[np.isfinite(table[["hr", "ci_low", "ci_high"]]).all(axis=1)].rename(columns={"cell_type": "covariate"})
    fig, ax = new_figure((6.5, 0.8 + 0.3 * max(len(tab), 1)))
    plot_forest(tab, ax=ax, xlabel="HR per SD of abundance (95% CI)", title=title)
    ax.set_ylabel("Cell type")
    fig.tight_layout()
    return fig


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
                           selection: SelectionSettings, cv_folds: int, seed: int, n_jobs: int = 1) -> PhenotypeRadScore:
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
                             cv_folds=min(cv_folds, 5), random_state=seed, n_jobs=n_jobs)
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
    """TME phenotypes, their survival, the cell types' Cox models and the Rad-Score predicting the phenotype.

    Attributes
    ----------
    cells : DataFrame
        The abundances (patients x cell types) of the patients with a phenotype.
    cells_source : str
        Where the abundances come from (the user table, or ssGSEA of the named gene sets).
    phenotype : Series
        ``hot``/``cold`` (/``intermediate_<i>``) by patient; NaN without abundances.
    n_training : int
        Training patients the scaler and k-means were fitted on.
    phenotype_counts, cluster_means : DataFrame
    immune_present : tuple of str
        The immune cell columns that named the clusters.
    cell_cox : DataFrame
        :func:`cell_type_cox` of OS with a ``group`` column (``all`` and each phenotype);
        empty with ``cell_cox_note`` saying why.
    cell_cox_note : str
    km : dict of str to KmCurves
        ``os_km`` by phenotype; ``os_km_rad_score``/``pfs_km_rad_score`` by Rad-Score group.
    rad_score : PhenotypeRadScore or None
        None with ``rad_score_note`` saying why it was not fitted.
    rad_score_note : str
    n_clusters, seed : int
    """

    cells: pd.DataFrame
    cells_source: str
    phenotype: pd.Series
    n_training: int
    phenotype_counts: pd.DataFrame
    cluster_means: pd.DataFrame
    immune_present: tuple[str, ...]
    cell_cox: pd.DataFrame
    cell_cox_note: str
    km: dict[str, KmCurves]
    rad_score: PhenotypeRadScore | None
    rad_score_note: str
    n_clusters: int
    seed: int

    def sections(self) -> list[Section]:
        tables = {"phenotype_counts": self.phenotype_counts, "cluster_means": self.cluster_means}
        named = self.phenotype.dropna()
        figures = {"heatmap": heatmap_figure(self.cells.loc[named.index], named)}
        if "os_km" in self.km:
            figures["os_km"] = self.km["os_km"].figure()
        text = (f"Cell abundances: {self.cells_source}. k-means (k = {self.n_clusters}, seed {self.seed}) on z-scored "
                f"abundances of {self.cells.shape[1]} cell types, scaler and centroids fitted on {self.n_training} "
                f"training patients; {len(named)} patients assigned to the nearest centroid"
                + (f" ({self.phenotype.isna().sum()} without abundances have no phenotype)"
                   if self.phenotype.isna().any() else "")
                + f". The hot cluster is the one with the highest mean standardised abundance of "
                f"{len(self.immune_present)} immune cell types ({', '.join(self.immune_present[:5])}...).")
        if len(self.cell_cox):
            tables["cell_type_cox"] = self.cell_cox
            for g, sub in self.cell_cox.groupby("group", sort=False):
                if np.isfinite(sub["hr"]).any():
                    figures[f"cell_type_cox_{g}"] = cox_forest_figure(sub, f"OS, univariate Cox ({g} patients)")
            text += (" Univariate Cox models of OS on each cell type's abundance, HR per standard deviation, "
                     "Benjamini-Hochberg q over the cell types, in all patients and within each phenotype.")
        elif self.cell_cox_note:
            text += f" Cell-type Cox models not fitted: {self.cell_cox_note}."
        r = self.rad_score
        if r is None:
            text += f" Rad-Score for the phenotype not fitted: {self.rad_score_note}"
        else:
            tables.update(radscore_auc=r.auc, classifier_comparison=r.comparison.auc,
                          classifier_metrics=r.comparison.metrics,
                          classifier_calibration=r.comparison.calibration, radscore_scores=r.scores)
            figures["classifier_calibration"] = calibration_figure(r.comparison.calibration)
            figures.update({k: v.figure() for k, v in self.km.items() if k != "os_km"})
            aucs = "; ".join(f"{row.analysis.split(', ', 1)[-1]} {row.auc:.3f} (p = {fmt_p(row.p_value)})"
                             for row in r.auc.itertuples() if np.isfinite(row.auc))
            text += (f" {r.auc['analysis'].iloc[0].split(',')[0]} predicting the hot phenotype, fitted on training "
                     f"features: AUC {aucs or 'not estimable'}; high/low Rad-Score by the training median. The seed's "
                     "classifiers (AdaBoost, Gaussian NB, Gaussian process, gradient boosting, KNN, logistic "
                     "regression, random forest) were fitted on the same training patients and selected features.")
        return [Section(KEY, TITLE, text=text, tables=tables, figures=figures)]


@dataclass(frozen=True)
class PhenotypeFit:
    """Cell abundances and the TME phenotype fitted on the training patients.

    Attributes
    ----------
    cells : DataFrame
        Patients x cell types (patients with abundances; index ``patient_id``).
    source : str
        Where the abundances come from (the user's table, or ssGSEA of the named gene sets).
    model : TmePhenotype
        Scaler and k-means fitted on the training patients' abundances.
    phenotype : Series
        ``hot``/``cold`` (/``intermediate_<i>``) per patient of ``cells``.
    n_training : int
    """

    cells: pd.DataFrame
    source: str
    model: TmePhenotype
    phenotype: pd.Series
    n_training: int


def fit_phenotype(cells: pd.DataFrame | None, expression: pd.DataFrame | None, training: Sequence[str],
                  settings: TmeSettings, seed: int) -> PhenotypeFit:
    """Abundances (the user's cell table as given, else ssGSEA of the shipped Bindea 2013 gene
    sets on ``expression``), then :class:`TmePhenotype` fitted on the ``training`` patients.

    Both tables are patients x columns indexed by ``patient_id``. The one path of the mCRC
    pipeline's phenotype stage and of the TME analysis. DataError without either table or
    without training patients with abundances.
    """
    if cells is not None and not cells.empty:
        default_immune, source = DEFAULT_IMMUNE_CELLS, "the user's cell table"
    elif expression is not None and not expression.empty:
        gs = tme_cell_types()
        cells = cell_abundances(expression, seed=seed)
        default_immune = gs.immune
        source = (f"ssGSEA (gseapy) of the {cells.shape[1]} of {len(gs.sets)} Bindea et al. (Immunity 2013) "
                  "cell-type gene sets with genes in the expression table")
    else:
        raise DataError("no cell-abundance table (tables.cells) and no expression table (tables.expression)",
                        fix="name RNA-seq expression or a cell-abundance table under 'tables' in study.yaml.")
    cells = cells.dropna(how="all")
    train = cells.loc[cells.index.isin(list(training))].dropna()
    if train.empty:
        raise DataError("no training patient has cell abundances.",
                        fix="give abundances or expression of training patients.")
    model = TmePhenotype(n_clusters=settings.n_clusters, immune=settings.immune_cells or list(default_immune),
                         random_state=seed).fit(train)
    return PhenotypeFit(cells=cells, source=source, model=model, phenotype=model.predict(cells).dropna(),
                        n_training=len(train))


def cox_by_phenotype(df: pd.DataFrame, cell_types: list[str], time: str, event: str) -> pd.DataFrame:
    """:func:`cell_type_cox` in all patients of ``df`` and within each ``tme_phenotype``, stacked with ``group``."""
    d = df.set_index("patient_id")
    parts = [cell_type_cox(d[cell_types], d[time], d[event]).assign(group="all")]
    for g in sorted(d["tme_phenotype"].unique()):
        sub = d[d["tme_phenotype"] == g]
        parts.append(cell_type_cox(sub[cell_types], sub[time], sub[event]).assign(group=g))
    out = pd.concat(parts, ignore_index=True)
    return out[["group", *[c for c in out.columns if c != "group"]]]


def _training_patients(pt: pd.DataFrame) -> pd.Series:
    if "cohort" in pt:
        return pt.loc[pt["cohort"] == "training", "patient_id"].astype(str)
    logger.info("TME phenotype: no cohort column; every patient is treated as training")
    return pt["patient_id"].astype(str)


def _study_rad_score(ctx: AnalysisContext, phenotype: pd.Series, pt: pd.DataFrame) -> PhenotypeRadScore:
    """The pipeline's TME Rad-Score (an mCRC study's model stage) against the phenotype, with the
    seed's classifier comparison on the same training patients and features."""
    scores = pt[["patient_id", "cohort", "radscore", "group"]].rename(
        columns={"radscore": "rad_score", "group": "rad_score_group"})
    scores.insert(2, "phenotype", scores["patient_id"].map(phenotype))
    known = scores[scores["phenotype"].isin(["hot", "cold"])]
    y = (known["phenotype"] == "hot").astype(int).to_numpy()
    cohorts = [c for c in pd.unique(known["cohort"])]
    auc = pd.DataFrame([auc_row(y[(known["cohort"] == c).to_numpy()],
                                known.loc[known["cohort"] == c, "rad_score"],
                                f"{MODEL_TITLES['tme']}, {c}" + (" (out-of-fold)" if c == "training" else ""))
                        for c in cohorts])
    f = patient_rows(ctx.features, rule="primary", timepoint="baseline").set_index("patient_id")
    # the TME Rad-Score's own candidates: the features the model stage let in, then the model's subset
    allowed = f.columns if ctx.model_features is None else f.columns.intersection(pd.Index(ctx.model_features))
    cols = feature_subset(allowed, "tme")
    X = f.loc[f.index.intersection(known["patient_id"]), cols]
    yk = pd.Series(y, index=known["patient_id"].to_numpy()).reindex(X.index)
    ck = known.set_index("patient_id")["cohort"].reindex(X.index)
    train = (ck == "training").to_numpy()
    comparison = compare_classifiers(X[train], yk[train], {c: (X[(ck == c).to_numpy()], yk[(ck == c).to_numpy()])
                                                           for c in cohorts}, selection=ctx.selection,
                                     random_state=ctx.seed)
    return PhenotypeRadScore(scores=scores, auc=auc, comparison=comparison)


def compute(ctx: AnalysisContext) -> TmeResult:
    """Abundances and the phenotype fitted on training patients (or those the mCRC pipeline
    derived), cell-type Cox models, then the Rad-Score: the study's own TME Rad-Score when the
    pipeline fitted one, else a random forest fitted here.

    DataError without a cell table and expression, or without training patients with abundances.
    """
    s, surv = ctx.settings.tme, ctx.survival
    pt = patient_table(ctx, "baseline")
    fit = ctx.phenotype
    if fit is None:
        cells = table_patients(ctx.cells, ctx, "cells") if ctx.cells is not None and not ctx.cells.empty else None
        expression = (table_patients(ctx.expression, ctx, "expression")
                      if cells is None and ctx.expression is not None and not ctx.expression.empty else None)
        fit = fit_phenotype(cells, expression, _training_patients(pt), s, ctx.seed)
    cells, named = fit.cells, fit.phenotype
    phen = named.reindex(cells.index.union(pd.Index(pt["patient_id"].astype(str))))
    # an mCRC study's manifest already holds the phenotype (its endpoint): this one replaces it
    df = pt.drop(columns=["tme_phenotype"], errors="ignore").merge(
        named.rename("tme_phenotype").rename_axis("patient_id").reset_index(), on="patient_id")
    km, cox, cox_note = {}, pd.DataFrame(), ""
    if surv.os_time and not require_columns(df, [surv.os_time, surv.os_event]):
        km["os_km"] = KmCurves.of(df[surv.os_time], df[surv.os_event], df["tme_phenotype"], "OS by TME phenotype")
        cox = cox_by_phenotype(df.join(cells, on="patient_id"), list(cells.columns), surv.os_time, surv.os_event)
    else:
        cox_note = require_columns(df, [surv.os_time, surv.os_event]) if surv.os_time else "no OS column configured"
    rad, note = None, ""
    try:
        rad = (_study_rad_score(ctx, named, pt) if ctx.model == "tme" else
               radscore_for_phenotype(ctx.features, named, pt.set_index("patient_id")["cohort"], ctx.selection,
                                      ctx.cv_folds, ctx.seed, ctx.n_jobs))
    except DataError as exc:
        note = exc.problem
    else:
        times = [c for c in (surv.os_time, surv.os_event, surv.pfs_time, surv.pfs_event) if c and c in pt]
        by_group = rad.scores.merge(pt[["patient_id", *times]], on="patient_id")
        for name, t, e in (("os", surv.os_time, surv.os_event), ("pfs", surv.pfs_time, surv.pfs_event)):
            if t and not require_columns(by_group, [t, e]):
                km[f"{name}_km_rad_score"] = KmCurves.of(by_group[t], by_group[e], by_group["rad_score_group"],
                                                         f"{name.upper()} by Rad-Score group (training median)")
    named_cells = cells.loc[named.index]
    return TmeResult(
        cells=named_cells, cells_source=fit.source, phenotype=phen, n_training=fit.n_training,
        phenotype_counts=named.value_counts().rename("n").rename_axis("phenotype").reset_index(),
        cluster_means=named_cells.groupby(named).mean().T.rename_axis("cell_type").reset_index(),
        immune_present=fit.model.immune_present_, cell_cox=cox, cell_cox_note=cox_note, km=km, rad_score=rad,
        rad_score_note=note, n_clusters=s.n_clusters, seed=ctx.seed)
