"""Reading the run's typed records for the report's methods text and reporting checklist.

The methods prose, per-scan table and parameter record (:mod:`radscore.report.methods`) and
the reporting checklists (:mod:`radscore.report.checklist`) state only what the run recorded:
the settings (:class:`~radscore.config.StudyConfig`), what was done to every scan
(:class:`~radscore.runtime.provenance.Provenance`, whose module docstring lists the step names
and result keys) and what the model stage fitted
(:class:`~radscore.modeling.train.ModelStageRecord`). The readers here are the ones both
use, so the two cannot disagree on, say, whether a scan's SUV conversion was recorded or
how large the cohorts were. Nothing is parsed back from display text.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from radscore.modeling.train import ModelStageRecord
from radscore.runtime.provenance import Provenance, ScanProvenance, Step

# --------------------------------------------------------------------------- formatting


def count(n: int, noun: str) -> str:
    """``1 scan``, ``3 scans``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def display(v: Any) -> str:
    """A setting as shown in the parameter record: strings as they are, the rest as JSON."""
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


# --------------------------------------------------------------------------- record access

def value(step: Step, key: str) -> Any:
    """``key`` (dotted for nested: ``grid.spacing_mm``) from the step's result, else its settings."""
    for source in (step.result, step.settings):
        node: Any = source
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def steps(provenance: Provenance, name: str) -> list[Step]:
    """The last step ``name`` of every scan that has one."""
    return [st for sp in provenance.scans if (st := sp.step(name)) is not None]


@dataclass(frozen=True)
class Suv:
    """How a scan's PET came to be in SUV, read from its ``load_pet`` step."""

    kind: str  # "converted" (DICOM, from its tags), "given" (image file in SUV), "unrecorded" or "no PET"
    method: str | None = None
    factor_min: float | None = None
    factor_max: float | None = None
    why: str = ""


def suv_of(scan: ScanProvenance) -> Suv:
    """The scan's :class:`Suv`: ``unrecorded`` (with ``why``) unless its record says how."""
    step = scan.step("load_pet")
    if step is None:  # a CT-only scan: nothing to convert
        return Suv("no PET")
    suv, source = step.result.get("suv"), step.result.get("source")
    if isinstance(suv, dict):
        lo = suv.get("factor_min", suv.get("factor"))
        hi = suv.get("factor_max", suv.get("factor"))
        if suv.get("method") and lo is not None and hi is not None:
            return Suv("converted", suv["method"], float(lo), float(hi))
        return Suv("unrecorded", why="SUV record lacks its method or factor")
    if suv is None and source == "image file":  # an image file is taken as already in SUV
        return Suv("given")
    return Suv("unrecorded", why=f"{source or 'PET of unrecorded source'} without an SUV record")


def cohort_counts(models: ModelStageRecord | None, p: Provenance) -> str | None:
    """``21 training, 9 testing`` (other cohorts after them) from the model record, else the split stage."""
    split = p.stage("split")
    if models is not None and models.cohorts:
        counts = Counter(models.cohorts.values())
    elif split is not None and split.result:
        counts = Counter({k: int(v) for k, v in split.result.items()})
    else:
        return None
    order = sorted(counts, key=lambda k: (k != "training", k != "testing", k))
    return ", ".join(f"{counts[k]} {k}" for k in order)
