"""What the pipeline hands to the clinical analyses, and the patient-level views of it.

The pipeline builds one :class:`AnalysisContext` after scoring; every analysis computes
from it. :func:`patient_table` turns the per-lesion, per-time-point score table into one
row per patient (``radscore.modeling.patients.patient_rows`` with the configured lesion
rule) merged with the patient's manifest/clinical columns, so each analysis starts from a
tidy table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from radscore.config import AnalysesSettings, EndpointSettings, SelectionSettings, StudyConfig, SurvivalSettings
from radscore.errors import DataError
from radscore.modeling.patients import patient_rows

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AnalysisContext:
    """Inputs of the clinical analyses.

    Parameters
    ----------
    settings : AnalysesSettings
        ``analyses:`` of study.yaml (one block per part).
    endpoint : EndpointSettings
        The binary endpoint column and its class names.
    survival : SurvivalSettings
        OS/PFS time and event columns.
    selection : SelectionSettings
        Feature selection of the TME Rad-Score (as for the Radscores).
    cv_folds : int
        Folds of the TME Rad-Score's inner cross-validation (at most 5 are used).
    manifest : DataFrame
        Manifest merged with the clinical table on ``patient_id`` (one row per patient,
        time point and lesion).
    scores : DataFrame
        Columns ``patient_id, timepoint, lesion_id, site, cohort, model, radscore,
        probability, group`` and, from the pipeline, ``radscore_oof``. With that column the
        analyses see honest scores: ``radscore`` becomes the out-of-fold score wherever one
        exists (training patients, from the nested-CV fold model that never saw them), the
        in-sample score is kept as ``radscore_apparent``. So nothing fitted downstream on
        training Radscores (integrated models, nomograms, serum markers, per-site analyses)
        learns from scores the Radscore model was fitted to.
    cutoffs : dict of str to float
        Radscore cutoff per model (from training, applied unchanged elsewhere).
    features : DataFrame
        One row per ``patient_id/timepoint/lesion_id``; feature columns.
    model_features : tuple of str, optional
        The features the model stage let into the Radscores (the ICC-robust ones and the
        deep features); None when it let in all.
    expression : DataFrame, optional
        Patients x genes, log2 TPM (index ``patient_id``; genes x patients is transposed).
    cells : DataFrame, optional
        Patients x cell types, abundances (index ``patient_id``; transposed likewise).
    phenotype : radscore.analyses.tme.PhenotypeFit, optional
        The TME phenotype an mCRC study's pipeline derived as its endpoint; the TME analysis
        reports it instead of clustering again.
    seed : int
    n_jobs : int
        Processes for the cross-validation folds of models fitted by the analyses.
    out_dir : Path
    """

    settings: AnalysesSettings
    endpoint: EndpointSettings
    survival: SurvivalSettings
    selection: SelectionSettings
    cv_folds: int
    manifest: pd.DataFrame
    scores: pd.DataFrame
    cutoffs: dict[str, float]
    features: pd.DataFrame
    model_features: tuple[str, ...] | None = None
    expression: pd.DataFrame | None = None
    cells: pd.DataFrame | None = None
    phenotype: Any = None
    seed: int = 42
    n_jobs: int = 1
    out_dir: Path = field(default_factory=lambda: Path("."))

    def __post_init__(self) -> None:
        if "radscore_oof" in self.scores and "radscore_apparent" not in self.scores:
            s = self.scores.rename(columns={"radscore": "radscore_apparent"})
            honest = s["radscore_oof"].where(s["radscore_oof"].notna(), s["radscore_apparent"])
            s.insert(s.columns.get_loc("radscore_apparent"), "radscore", honest)
            if "probability" in s:
                s["probability"] = expit(honest.to_numpy(float))
            object.__setattr__(self, "scores", s)
        patients = set(self.manifest["patient_id"].astype(str)) if "patient_id" in self.manifest else set()
        for name in ("expression", "cells"):
            table = getattr(self, name)
            if table is not None:
                object.__setattr__(self, name, patients_as_rows(table, patients, name))

    @classmethod
    def from_config(cls, config: StudyConfig, **tables) -> AnalysisContext:
        """A context with the settings of ``config``; ``tables`` are the remaining fields.

        ``seed`` defaults to ``config.seed``.
        """
        tables.setdefault("seed", config.seed)
        return cls(settings=config.analyses, endpoint=config.endpoint, survival=config.survival,
                   selection=config.selection, cv_folds=config.model.cv_folds, **tables)

    @cached_property
    def model(self) -> str:
        """The Radscore model the analyses use (``analyses.model``, else the first scored)."""
        wanted = self.settings.model
        models = list(pd.unique(self.scores["model"])) if "model" in self.scores else []
        if wanted in models or not models:
            return wanted
        logger.info("model %r not scored; the analyses use %r", wanted, models[0])
        return str(models[0])

    def cutoff(self, model: str | None = None) -> float:
        """The training cutoff of ``model`` (default :attr:`model`)."""
        model = model or self.model
        if model not in self.cutoffs:
            raise DataError(f"no Radscore cutoff for model '{model}'.", fix="score the model before the analyses.")
        return float(self.cutoffs[model])


def patients_as_rows(table: pd.DataFrame, patients: set[str], name: str) -> pd.DataFrame:
    """The table indexed by ``patient_id`` (str), patients as rows.

    Accepts a ``patient_id`` column, or the transposed layout (genes x patients, common for
    expression matrices), which is recognised by patient IDs in the columns and transposed.
    """
    t = table
    if "patient_id" in t.columns:
        t = t.set_index("patient_id")
    t = t.set_axis(t.index.astype(str), axis=0)
    if patients and not patients & set(t.index) and patients & set(map(str, t.columns)):
        logger.info("%s table has patients as columns; transposing", name)
        t = t.T
        t.index = t.index.astype(str)
    return t.rename_axis("patient_id")


def table_patients(table: pd.DataFrame, ctx: AnalysisContext, name: str) -> pd.DataFrame:
    """Rows of ``table`` for the manifest's patients; DataError when there are none."""
    keep = table.index.intersection(pd.Index(ctx.manifest["patient_id"].astype(str).unique()))
    if keep.empty:
        raise DataError(f"no patient of the manifest is in the {name} table.",
                        fix=f"index the {name} table by the manifest's patient_id.")
    return table.loc[keep]


def patient_table(ctx: AnalysisContext, timepoint: str = "baseline", model: str | None = None) -> pd.DataFrame:
    """One row per patient: the model's Radscore at ``timepoint`` plus the manifest columns.

    The score row follows ``analyses.lesions.patient_rule``; the manifest row is the
    primary lesion's. The high/low group is recomputed from the training cutoff (high when
    ``radscore > cutoff``, as the models and the saved artifact define it), so a ``mean``
    lesion rule stays consistent with the cutoff.
    """
    model = model or ctx.model
    s = ctx.scores
    missing = [c for c in ("patient_id", "model", "radscore") if c not in s]
    if missing:
        raise DataError(f"score table lacks column(s) {missing}.", fix="pass the pipeline's scores table.")
    s = patient_rows(s[s["model"] == model], rule=ctx.settings.lesions.patient_rule, timepoint=timepoint)
    if model in ctx.cutoffs:
        s = s.assign(group=np.where(s["radscore"].to_numpy() > ctx.cutoffs[model], "high", "low"))
    m = patient_rows(ctx.manifest, rule="primary", timepoint=timepoint)
    drop = [c for c in m.columns if c in s.columns and c != "patient_id"]
    out = s.merge(m.drop(columns=drop), on="patient_id", how="left")
    return out.sort_values("patient_id", kind="mergesort").reset_index(drop=True)


def require_columns(df: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> str | None:
    """The skip reason naming the absent/empty columns, or None when all are present."""
    absent = [c for c in columns if c not in df.columns or df[c].notna().sum() == 0]
    return f"column(s) {', '.join(absent)} absent from the manifest/clinical table" if absent else None
