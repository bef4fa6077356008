"""Reporting checklists filled from the run's record: TRIPOD+AI, CLEAR, METRICS and the IBSI items.

Every item is marked *covered*, *partly covered*, *not covered* or (METRICS conditions, a
step the run does not have) *not applicable* by a rule that reads the run's typed records
(:mod:`radscore.report.records`: settings, per-scan provenance, the model stage's record, the
report's sections and QC table, the methods paragraphs the report prints). Each row says where
in the report the item is covered (anchors of ``report.html``: a methods paragraph, the
parameter record, a section's table or figure) and the evidence: the recorded values, or what
is missing. Items no software run can know (ethics, funding, the discussion) are *not covered*
with evidence beginning "Author to supply". Nothing is parsed back from display text.

References
----------
Collins GS, et al. TRIPOD+AI statement. BMJ 2024;385:e078378.
Kocak B, et al. CheckList for EvaluAtion of Radiomics research (CLEAR). Insights Imaging 2023;14:75.
Kocak B, et al. METhodological RadiomICs Score (METRICS). Insights Imaging 2024;15:8.
Zwanenburg A, et al. The Image Biomarker Standardization Initiative. Radiology 2020;295:328-338.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from radscore.config import StudyConfig
from radscore.modeling.train import ModelStageRecord
from radscore.report.checklist import _clear, _ibsi, _metrics_tool, _tripod_ai
from radscore.report.checklist._metrics_tool import MetricsScore, metrics_score
from radscore.report.checklist._rules import AUTHOR, COVERED, NA, PARTLY, STATUSES, Finding, Item, RunRecord
from radscore.report.sections import Section
from radscore.runtime.provenance import Provenance


@dataclass(frozen=True)
class Checklist:
    """A named checklist: ``name`` (file stem), display title, reference and items."""

    name: str
    title: str
    reference: str
    items: tuple[Item, ...]


#: The checklists the report carries, in display order.
CHECKLISTS: dict[str, Checklist] = {c.name: c for c in (
    Checklist("tripod_ai", "TRIPOD+AI (2024)", "Collins GS, et al. BMJ 2024;385:e078378", _tripod_ai.ITEMS),
    Checklist("clear", "CLEAR", "Kocak B, et al. Insights Imaging 2023;14:75", _clear.ITEMS),
    Checklist("metrics", "METRICS", "Kocak B, et al. Insights Imaging 2024;15:8", _metrics_tool.ITEMS),
    Checklist("ibsi", "IBSI image processing and feature calculation",
              "Zwanenburg A, et al. Radiology 2020;295:328-338", _ibsi.ITEMS),
)}

COLUMNS = ["item", "section", "title", "status", "where", "evidence"]


def _row(item: Item, record: RunRecord) -> dict:
    why_not = item.applies(record) if item.applies is not None else None
    f = Finding(NA, why_not) if why_not else item.rule(record)
    if f.status not in STATUSES:
        raise ValueError(f"checklist item {item.number} returned status {f.status!r}; one of {STATUSES} expected")
    # a "not covered" item is covered nowhere, even when the facts it lacks are printed somewhere
    where = "; ".join(f"#{w}" for w in f.where) if f.status in (COVERED, PARTLY) else ""
    row = {"item": item.number, "section": item.section, "title": item.title, "status": f.status,
           "where": where, "evidence": f.evidence}
    return row | ({"weight": item.weight} if item.weight is not None else {})


def checklist_table(checklist: Checklist, record: RunRecord) -> pd.DataFrame:
    """One checklist filled from ``record``: a row per item.

    Returns
    -------
    DataFrame
        ``item`` (the guideline's number), ``section``, ``title`` (short paraphrase), ``status``
        (one of :data:`STATUSES`), ``where`` (report anchors, ``#id``, ``; ``-separated; blank
        when the report does not cover it), ``evidence``; METRICS adds ``weight``.
    """
    return pd.DataFrame([_row(item, record) for item in checklist.items])


def reporting_checklists(config: StudyConfig, provenance: Provenance, models: ModelStageRecord | None,
                         sections: Sequence[Section], qc: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every checklist of :data:`CHECKLISTS` filled from the run's records.

    Parameters
    ----------
    config : StudyConfig
    provenance : Provenance
    models : ModelStageRecord or None
    sections : sequence of Section
        The report's sections (results-level items: CIs, calibration, decision curves, Table 1).
    qc : DataFrame, optional
        The QC table (``severity`` column): exclusions count towards eligibility and flow items.

    Returns
    -------
    dict
        Checklist name -> its table (:func:`checklist_table`).
    """
    record = RunRecord.of(config, provenance, models, sections, qc)
    return {name: checklist_table(c, record) for name, c in CHECKLISTS.items()}


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """Items per status (every status, zeros included) and ``author`` (items the author supplies)."""
    counts = {s: int((table["status"] == s).sum()) for s in STATUSES}
    return counts | {"author": int(table["evidence"].str.startswith(AUTHOR).sum())}


__all__ = ["AUTHOR", "CHECKLISTS", "COLUMNS", "Checklist", "MetricsScore", "RunRecord", "STATUSES",
           "checklist_table", "metrics_score", "reporting_checklists", "status_counts"]
