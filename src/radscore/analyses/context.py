"""What the pipeline hands to the clinical analyses, and the patient-level views of it.

The pipeline builds one :class:`AnalysisContext` after scoring; every analysis reads
from it and returns report sections. The helpers here turn the per-lesion, per-time-point
score table into one row per patient (by the configured lesion rule) merged with the
patient's manifest/clinical columns, so each analysis starts from a tidy table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radscore.config import StudyConfig
from radscore.errors import DataError

logger = logging.getLogger(__name__)

SCORE_COLUMNS = ("patient_id", "timepoint", "lesion_id", "site", "cohort", "model", "radscore", "probability", "group")


@dataclass(frozen=True)
class AnalysisContext:
    """Inputs of the clinical analyses.

    Parameters
    ----------
    config : StudyConfig
    manifest : DataFrame
        Manifest merged with the clinical table on ``patient_id`` (one row per patient,
        time point and lesion).
    scores : DataFrame
        Columns ``patient_id, timepoint, lesion_id, site, cohort, model, radscore,
        probability, group``.
    cutoffs : dict of str to float
        Radscore cutoff per model (from training, applied unchanged elsewhere).
    features : DataFrame
        One row per ``patient_id/timepoint/lesion_id``; feature columns.
    expression : DataFrame, optional
        Patients x genes, log2 TPM (index ``patient_id``).
    cells : DataFrame, optional
        Patients x cell types, abundances (index ``patient_id``).
    crops : dict, optional
        Image crops for deep features (see :mod:`radscore.features.deep`).
    seed : int
    out_dir : Path
    """

    config: StudyConfig
    manifest: pd.DataFrame
    scores: pd.DataFrame
    cutoffs: dict[str, float]
    features: pd.DataFrame
    expression: pd.DataFrame | None = None
    cells: pd.DataFrame | None = None
    crops: dict[str, Any] | None = None
    seed: int = 42
    out_dir: Path = field(default_factory=lambda: Path("."))

    def __post_init__(self) -> None:
        patients = set(self.manifest["patient_id"].astype(str)) if "patient_id" in self.manifest else set()
        for name in ("expression", "cells"):
            table = getattr(self, name)
            if table is not None:
                object.__setattr__(self, name, _patients_by_rows(table, patients, name))

    @cached_property
    def model(self) -> str:
        """The Radscore model the analyses use (``config.analyses.model``, else the first scored)."""
        wanted = self.config.analyses.model
        models = list(pd.unique(self.scores["model"])) if "model" in self.scores else []
        if wanted in models or not models:
            return wanted
        logger.info("model %r not scored; the analyses use %r", wanted, models[0])
        return str(models[0])

    def cutoff(self, model: str | None = None) -> float:
        model = model or self.model
        if model not in self.cutoffs:
            raise DataError(f"no Radscore cutoff for model '{model}'.", fix="score the model before the analyses.")
        return float(self.cutoffs[model])


def _patients_by_rows(table: pd.DataFrame, patients: set[str], name: str) -> pd.DataFrame:
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


def pick_lesion(rows: pd.DataFrame, rule: str) -> pd.DataFrame:
    """One row per patient from per-lesion score rows.

    ``"primary"``: the lesion with ``site == "primary"``, else the lowest ``lesion_id``
    (the seed's Radscore is from the primary lung tumour, Supplementary Results 1);
    ``"max"``: the lesion with the highest Radscore (the most NDB-like);
    ``"mean"``: the first lesion's row with the Radscore and probability averaged.
    """
    if rows.empty:
        return rows
    rows = rows.sort_values(["patient_id", "lesion_id"], kind="mergesort")
    if rule == "primary":
        is_primary = (rows.get("site", pd.Series("", index=rows.index)).astype(str) == "primary").astype(int)
        order = rows.assign(_p=-is_primary).sort_values(["patient_id", "_p", "lesion_id"], kind="mergesort")
        return order.drop(columns="_p").groupby("patient_id", sort=True).head(1).reset_index(drop=True)
    if rule == "max":
        order = rows.sort_values(["patient_id", "radscore", "lesion_id"], ascending=[True, False, True], kind="mergesort")
        return order.groupby("patient_id", sort=True).head(1).reset_index(drop=True)
    if rule == "mean":
        first = rows.groupby("patient_id", sort=True).head(1).set_index("patient_id")
        means = rows.groupby("patient_id", sort=True)[["radscore", "probability"]].mean()
        first[["radscore", "probability"]] = means
        return first.reset_index()
    raise DataError(f"unknown patient-level lesion rule '{rule}'.", fix="use primary, max or mean.")


def patient_table(ctx: AnalysisContext, timepoint: str = "baseline", model: str | None = None) -> pd.DataFrame:
    """One row per patient: the model's Radscore at ``timepoint`` plus the manifest columns.

    The high/low group is recomputed from the training cutoff (``radscore >= cutoff`` is
    high), so a ``mean`` lesion rule stays consistent with the cutoff.
    """
    model = model or ctx.model
    s = ctx.scores
    missing = [c for c in ("patient_id", "model", "radscore") if c not in s]
    if missing:
        raise DataError(f"score table lacks column(s) {missing}.", fix="pass the pipeline's scores table.")
    s = s[s["model"] == model]
    if "timepoint" in s:
        s = s[s["timepoint"].astype(str) == timepoint]
    if "lesion_id" not in s:
        s = s.assign(lesion_id="1")
    s = pick_lesion(s.assign(lesion_id=s["lesion_id"].astype(str)), ctx.config.analyses.lesions.patient_rule)
    if model in ctx.cutoffs:
        s = s.assign(group=np.where(s["radscore"].to_numpy() >= ctx.cutoffs[model], "high", "low"))
    m = ctx.manifest
    if "timepoint" in m:
        m = m[m["timepoint"].astype(str) == timepoint]
    if "lesion_id" in m:
        m = pick_lesion(m.assign(lesion_id=m["lesion_id"].astype(str), radscore=0.0), "primary").drop(columns="radscore")
    m = m.drop_duplicates("patient_id")
    drop = [c for c in m.columns if c in s.columns and c != "patient_id"]
    out = s.merge(m.drop(columns=drop), on="patient_id", how="left")
    return out.sort_values("patient_id", kind="mergesort").reset_index(drop=True)


def require_columns(df: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> str | None:
    """The skip reason naming the absent/empty columns, or None when all are present."""
    absent = [c for c in columns if c not in df.columns or df[c].notna().sum() == 0]
    return f"column(s) {', '.join(absent)} absent from the manifest/clinical table" if absent else None
