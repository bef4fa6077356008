"""Radiogenomics: immune signatures and cell abundances by Radscore group (PROTOCOL A15).

* CYT (Rooney et al., Cell 2015;160:48-61): geometric mean of GZMA and PRF1 expression
  on the **linear** scale. The input is log2(TPM + 1), so TPM = 2**x - 1, and
  CYT = sqrt((TPM_GZMA + 0.01) * (TPM_PRF1 + 0.01)) (Rooney's 0.01 offset).
* T-cell-inflamed GEP (Ayers et al., J Clin Invest 2017;127:2930-40): the 18 genes
  below. The published per-gene weights (Cristescu et al., Science 2018;362:eaar3593,
  Table S2B; :data:`GEP_WEIGHTS_CRISTESCU2018`) are defined on housekeeping-normalised
  expression (NanoString), which a log2 TPM table without the housekeeping genes cannot
  reproduce, so by default the score is the **unweighted mean** of the genes' log2
  expression; weights (those or others) can be given in ``analyses.radiogenomics.gep_weights``.
* User gene sets scored per sample by ssGSEA (Barbie et al., Nature 2009; gseapy).
* GSEA pre-ranked (Subramanian et al., PNAS 2005; gseapy) of genes ranked by Spearman
  correlation with the Radscore; gene sets are passed as dicts, nothing is downloaded.
* Signatures and cell abundances compared between low and high Radscore groups with the
  Mann-Whitney U test and Benjamini-Hochberg q-values (statsmodels ``multipletests``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from radscore.analyses._shared import OptionalDependencyMissing, Skipped, attempt, new_figure, require
from radscore.analyses.context import AnalysisContext, patient_table, table_patients
from radscore.errors import DataError
from radscore.report.sections import Section

logger = logging.getLogger(__name__)

SIGNATURES = ("radiogenomics", "Radiogenomics: immune signatures")
CELLS = ("cell_abundance", "Immune-cell abundance by Radscore group")
SECTIONS = (SIGNATURES, CELLS)

CYT_GENES = ("GZMA", "PRF1")
GEP_GENES = ("CCL5", "CD27", "CD274", "CD276", "CD8A", "CMKLR1", "CXCL9", "CXCR6", "HLA-DQA1", "HLA-DRB1",
             "HLA-E", "IDO1", "LAG3", "NKG7", "PDCD1LG2", "PSMB10", "STAT1", "TIGIT")

#: Cristescu et al. 2018, Table S2B: weights of the weighted-sum GEP on housekeeping-normalised data.
GEP_WEIGHTS_CRISTESCU2018 = {
    "CCL5": 0.008346, "CD27": 0.072293, "CD274": 0.042853, "CD276": -0.0239, "CD8A": 0.031021,
    "CMKLR1": 0.151253, "CXCL9": 0.074135, "CXCR6": 0.004313, "HLA-DQA1": 0.020091, "HLA-DRB1": 0.058806,
    "HLA-E": 0.07175, "IDO1": 0.060679, "LAG3": 0.123895, "NKG7": 0.075524, "PDCD1LG2": 0.003734,
    "PSMB10": 0.032999, "STAT1": 0.250229, "TIGIT": 0.084767,
}


def cytolytic_activity(expression: pd.DataFrame) -> pd.Series:
    """CYT per sample from log2(TPM + 1) expression (see module notes)."""
    missing = [g for g in CYT_GENES if g not in expression.columns]
    if missing:
        raise DataError(f"expression table lacks {missing} for CYT.", fix="include GZMA and PRF1.")
    tpm = np.clip(np.exp2(expression[list(CYT_GENES)].to_numpy(float)) - 1.0, 0.0, None)
    return pd.Series(np.sqrt(np.prod(tpm + 0.01, axis=1)), index=expression.index, name="CYT")


def gep_score(expression: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.Series:
    """T-cell-inflamed GEP: (weighted) mean of the 18 genes' log2 expression.

    Genes absent from the table are left out with a warning; fewer than half present is
    an error.
    """
    genes = list(weights) if weights else list(GEP_GENES)
    present = [g for g in genes if g in expression.columns]
    if len(present) < len(genes) / 2:
        raise DataError(f"only {len(present)} of {len(genes)} GEP genes in the expression table.",
                        fix="include the 18 GEP genes (Ayers 2017).")
    if len(present) < len(genes):
        logger.warning("GEP computed without %s", sorted(set(genes) - set(present)))
    x = expression[present].to_numpy(float)
    if weights:
        w = np.array([weights[g] for g in present], float)
        return pd.Series(x @ w, index=expression.index, name="GEP")
    return pd.Series(x.mean(axis=1), index=expression.index, name="GEP")


def ssgsea_scores(expression: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]], min_size: int = 5,
                  seed: int = 0) -> pd.DataFrame:
    """Samples x gene sets, gseapy ssGSEA normalised enrichment scores (rank normalisation)."""
    with require("gseapy", "tme"):
        import gseapy

    res = gseapy.ssgsea(data=expression.T, gene_sets={k: list(v) for k, v in gene_sets.items()}, outdir=None,
                        sample_norm_method="rank", permutation_num=0, no_plot=True, seed=seed, threads=1,
                        min_size=min_size)
    tab = res.res2d.pivot(index="Name", columns="Term", values="NES").astype(float)
    return tab.reindex(expression.index)


def gsea_prerank(expression: pd.DataFrame, radscore: pd.Series, gene_sets: Mapping[str, Sequence[str]],
                 permutations: int = 1000, min_size: int = 5, seed: int = 0) -> pd.DataFrame:
    """GSEA of genes ranked by Spearman correlation with the Radscore (gseapy ``prerank``)."""
    with require("gseapy", "tme"):
        import gseapy

    common = expression.index.intersection(radscore.index)
    rho = expression.loc[common].rank().corrwith(radscore.loc[common].rank()).dropna().sort_values(ascending=False)
    res = gseapy.prerank(rnk=rho, gene_sets={k: list(v) for k, v in gene_sets.items()}, permutation_num=permutations,
                         outdir=None, seed=seed, threads=1, min_size=min_size, no_plot=True)
    keep = ["Term", "ES", "NES", "NOM p-val", "FDR q-val", "Lead_genes"]
    return res.res2d[[c for c in keep if c in res.res2d]].sort_values("Term").reset_index(drop=True)


def group_tests(values: pd.DataFrame, group: pd.Series, radscore: pd.Series | None = None) -> pd.DataFrame:
    """Per column: medians by group, Mann-Whitney p (two-sided), BH q, Spearman rho with the Radscore.

    References
    ----------
    Mann & Whitney 1947; Benjamini & Hochberg 1995 (statsmodels ``multipletests(method="fdr_bh")``).
    """
    g = group.reindex(values.index).astype(str)
    rows = []
    for c in values.columns:
        lo, hi = values.loc[g == "low", c].dropna(), values.loc[g == "high", c].dropna()
        p = sps.mannwhitneyu(lo, hi).pvalue if len(lo) and len(hi) else np.nan
        row = {"variable": c, "n_low": len(lo), "n_high": len(hi), "median_low": lo.median(),
               "median_high": hi.median(), "p_value": p}
        if radscore is not None:
            both = values[c].notna() & radscore.reindex(values.index).notna()
            row["spearman_rho"] = sps.spearmanr(values.loc[both, c], radscore.reindex(values.index)[both])[0]
        rows.append(row)
    out = pd.DataFrame(rows)
    ok = out["p_value"].notna()
    out["q_value"] = np.nan
    if ok.any():
        out.loc[ok, "q_value"] = multipletests(out.loc[ok, "p_value"], method="fdr_bh")[1]
    return out


def box_figure(values: pd.DataFrame, group: pd.Series, tests: pd.DataFrame):
    """One box plot per column of ``values``, low vs high Radscore group, titled with the p-value."""
    cols = list(values.columns)
    fig, axes = new_figure((2.4 * len(cols), 3.4), 1, len(cols), squeeze=False)
    p_values = tests.set_index("variable")["p_value"]
    for ax, c in zip(axes[0], cols):
        ax.boxplot([values.loc[group == k, c].dropna() for k in ("low", "high")], tick_labels=["low", "high"])
        ax.set_title(f"{c}\np = {p_values[c]:.3g}", fontsize=8)
        ax.set_xlabel("Radscore group", fontsize=7)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Signatures:
    """Immune signatures by Radscore group.

    Attributes
    ----------
    values : DataFrame
        Patients x signatures (CYT, GEP, GZMA/PRF1/PDCD1, ``ssGSEA_<set>``).
    group : Series
        Radscore group of the same patients.
    tests : DataFrame
        :func:`group_tests` of ``values``.
    gsea_prerank : DataFrame or None
        None with ``gsea_note`` saying why (an optional package missing).
    gsea_note : str
    weighted : bool
        GEP from the configured weights (else the unweighted mean).
    permutations : int
    """

    values: pd.DataFrame
    group: pd.Series
    tests: pd.DataFrame
    gsea_prerank: pd.DataFrame | None
    gsea_note: str
    weighted: bool
    permutations: int

    def section(self) -> Section:
        text = (f"{len(self.values)} patients with expression. CYT = geometric mean of GZMA and PRF1 on the linear "
                "TPM scale (2**x - 1 of log2(TPM+1), +0.01 offset, Rooney 2015); GEP = unweighted mean of the 18 "
                "Ayers 2017 genes' log2 expression (the published weights are for NanoString data)"
                + (" with the configured weights" if self.weighted else "")
                + "; the GEP genes and the configured gene sets scored by ssGSEA (gseapy). Group tests: Mann-Whitney, "
                "Benjamini-Hochberg q. GSEA pre-ranked by Spearman correlation with the Radscore "
                f"({self.permutations} permutations).")
        if self.gsea_note:
            text += f" ssGSEA and GSEA skipped: {self.gsea_note}."
        tables = {"signatures": self.tests}
        if self.gsea_prerank is not None:
            tables["gsea_prerank"] = self.gsea_prerank
        return Section(*SIGNATURES, text=text, tables=tables,
                       figures={"signatures_by_group": box_figure(self.values, self.group, self.tests)})


@dataclass(frozen=True)
class CellAbundance:
    """Cell abundances by Radscore group: ``tests`` per cell type; the six smallest p drawn."""

    values: pd.DataFrame
    group: pd.Series
    tests: pd.DataFrame

    def section(self) -> Section:
        top = self.tests.nsmallest(6, "p_value")["variable"].tolist()
        return Section(*CELLS, text=f"{len(self.values)} patients, {self.values.shape[1]} cell types; "
                                    "Mann-Whitney p and BH q.",
                       tables={"tests": self.tests},
                       figures={"top_cells": box_figure(self.values[top], self.group, self.tests)})


@dataclass(frozen=True)
class RadiogenomicsResult:
    """Signatures and cell abundances, each computed or skipped with the reason."""

    signatures: Signatures | Skipped
    cells: CellAbundance | Skipped

    def sections(self) -> list[Section]:
        return [self.signatures.section(), self.cells.section()]


def signatures(ctx: AnalysisContext, pt: pd.DataFrame) -> Signatures:
    """CYT, GEP, ssGSEA and GSEA pre-ranked against the patients' Radscore (``pt``, by patient_id)."""
    s = ctx.settings.radiogenomics
    if ctx.expression is None or ctx.expression.empty:
        raise DataError("no expression table (tables.expression)")
    expr = table_patients(ctx.expression, ctx, "expression").loc[lambda d: d.index.isin(pt.index)]
    genes = [g for g in (*CYT_GENES, "PDCD1") if g in expr.columns]  # the seed's gene-level follow-up
    sig = pd.concat([cytolytic_activity(expr), gep_score(expr, s.gep_weights), expr[genes]], axis=1)
    gsea_sets = {"T_CELL_INFLAMED_GEP_AYERS2017": list(GEP_GENES), **s.gene_sets}
    prerank, note = None, ""
    try:
        sig = sig.join(ssgsea_scores(expr, gsea_sets, s.min_set_size, ctx.seed).add_prefix("ssGSEA_"))
        prerank = gsea_prerank(expr, pt["radscore"], gsea_sets, s.gsea_permutations, s.min_set_size, ctx.seed)
    except OptionalDependencyMissing as exc:  # CYT and GEP need no gseapy: keep them
        note = str(exc)
    group = pt["group"].reindex(sig.index)
    return Signatures(values=sig, group=group, tests=group_tests(sig, pt["group"], pt["radscore"]),
                      gsea_prerank=prerank, gsea_note=note, weighted=bool(s.gep_weights),
                      permutations=s.gsea_permutations)


def cell_abundance(ctx: AnalysisContext, pt: pd.DataFrame) -> CellAbundance:
    """Each cell type's abundance by Radscore group (``pt``, by patient_id)."""
    if ctx.cells is None or ctx.cells.empty:
        raise DataError("no cell-abundance table (tables.cells)")
    cells = table_patients(ctx.cells, ctx, "cells").loc[lambda d: d.index.isin(pt.index)]
    return CellAbundance(values=cells, group=pt["group"].reindex(cells.index),
                         tests=group_tests(cells, pt["group"], pt["radscore"]))


def compute(ctx: AnalysisContext) -> RadiogenomicsResult:
    """Both sections on the baseline patients; each skipped with the reason when its table is absent."""
    pt = patient_table(ctx, "baseline").set_index("patient_id")
    return RadiogenomicsResult(signatures=attempt(SIGNATURES, signatures, ctx, pt),
                               cells=attempt(CELLS, cell_abundance, ctx, pt))
