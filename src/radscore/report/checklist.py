"""The IBSI and CLEAR reporting checklist: each item marked covered or not by what the run recorded.

Every rule reads the run's typed records (:mod:`radscore.report.records`): the settings, the
per-scan provenance, the model stage's record and the report's sections. An item is
"covered" only when those records hold it, with the recorded values as evidence; otherwise
the evidence names what is missing. Nothing is parsed back from display text.

References
----------
Zwanenburg A, et al. The Image Biomarker Standardization Initiative. Radiology
2020;295:328-338 (reporting guidelines, Table 3 of the IBSI reference manual).
Kocak B, et al. CheckList for EvaluAtion of Radiomics research (CLEAR). Insights
Imaging 2023;14:75.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel

from radscore.catalog import MODEL_TITLES
from radscore.config import StudyConfig
from radscore.modeling.train import ModelStageRecord
from radscore.report import records
from radscore.report.sections import Section
from radscore.runtime.provenance import Provenance


@dataclass(frozen=True)
class RunRecord:
    """What the checklist's rules read."""

    config: StudyConfig
    provenance: Provenance
    models: ModelStageRecord | None
    sections: Sequence[Section]


Rule = Callable[[RunRecord], tuple[bool, str]]


def _short(v: Any, n: int = 80) -> str:
    s = records.display(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _all(*checks: tuple[bool, str]) -> tuple[bool, str]:
    return all(ok for ok, _ in checks), "; ".join(ev for _, ev in checks)


def _setting(section: BaseModel, label: str, *keys: str) -> tuple[bool, str]:
    """Covered when the typed settings have every key, set; a key the config lacks is named as such."""
    fields = type(section).model_fields
    absent = [k for k in keys if k not in fields]
    unset = [k for k in keys if k in fields and getattr(section, k) in (None, "", [], {})]
    if absent or unset:
        why = [f"{label}.{k} is not a radscore setting" for k in absent] + [f"{label}.{k} is not set" for k in unset]
        return False, "not recorded: " + "; ".join(why)
    return True, "; ".join(f"{label}.{k} = {_short(getattr(section, k))}" for k in keys)


def _every_scan(p: Provenance, step: str, *keys: str) -> tuple[bool, str]:
    """Covered when every scan's ``step`` records every key (result or settings)."""
    if not p.scans:
        return False, f"no scan record ({step})"
    missing: dict[str, str] = {}  # scan -> what its record lacks
    seen: dict[str, dict[str, None]] = {k: {} for k in keys}  # distinct values, in first-seen order
    for sp in p.scans:
        st = sp.step(step)
        if st is None:
            missing[sp.scan] = f"no {step} step"
            continue
        if lacks := [k for k in keys if records.value(st, k) is None]:
            missing[sp.scan] = f"{step} lacks {', '.join(lacks)}"
        for k in keys:
            if (v := records.value(st, k)) is not None:
                seen[k][_short(v, 60)] = None
    if len(missing) == len(p.scans) and len(set(missing.values())) == 1:  # the same gap everywhere: say it once
        return False, f"all {records.count(len(p.scans), 'scan')}: {next(iter(missing.values()))}"
    if missing:
        shown = [f"{scan}: {why}" for scan, why in list(missing.items())[:2]]
        return False, "; ".join(shown) + (f" (+{len(missing) - 2} more)" if len(missing) > 2 else "")
    shown = {k: list(v)[:3] + (["…"] if len(v) > 3 else []) for k, v in seen.items()}
    return True, f"{step} of all {records.count(len(p.scans), 'scan')}: " + "; ".join(
        f"{k} = {', '.join(v)}" for k, v in shown.items())


def _software(p: Provenance, *packages: str) -> tuple[bool, str]:
    missing = [k for k in packages if not p.software.get(k)]
    if missing:
        return False, f"version not recorded: {', '.join(missing)}"
    return True, ", ".join(f"{k} {p.software[k]}" for k in packages)


def _suv_rule(r: RunRecord) -> tuple[bool, str]:
    """Covered when every PET records its SUV method and factor, or was given in SUV."""
    suvs = {sp.scan: s for sp in r.provenance.scans if (s := records.suv_of(sp)).kind != "no PET"}
    if not suvs:
        return False, "no load_pet step recorded"
    bad = [f"{scan}: {s.why}" for scan, s in suvs.items() if s.kind == "unrecorded"]
    if bad:
        return False, "; ".join(bad[:2]) + (f" (+{len(bad) - 2} more)" if len(bad) > 2 else "")
    methods = Counter(s.method for s in suvs.values() if s.kind == "converted")
    given = sum(s.kind == "given" for s in suvs.values())
    parts = [f"{records.count(n, 'DICOM series')} converted to SUV{m}" for m, n in methods.items()]
    return True, "; ".join(parts + ([f"{given} image(s) given in SUV"] if given else []))


def _robustness_rule(r: RunRecord) -> tuple[bool, str]:
    rb, stage = r.config.robustness, r.provenance.stage("robustness")
    if rb.icc_source == "off":
        return False, "robustness.icc_source = off: no robustness filter"
    if stage is not None and stage.result.get("skipped"):
        return False, f"robustness stage skipped: {stage.result['skipped']}"
    ok, ev = _setting(rb, "robustness", "icc_source", "icc_threshold", "icc_type")
    if stage is not None and stage.result.get("source"):
        ev += f"; source used: {stage.result['source']}"
    if perturbed := records.steps(r.provenance, "perturb_mask"):
        ev += f"; {records.count(len(perturbed), 'perturbed mask')} recorded"
    return ok, ev


def _cohorts(models: ModelStageRecord | None, p: Provenance) -> tuple[bool, str]:
    counts = records.cohort_counts(models, p)
    return (True, counts) if counts else (False, "cohorts not recorded (no split stage or model stage record)")


def _per_model(models: ModelStageRecord | None, attr: str) -> tuple[bool, str]:
    """Covered when every Radscore's record holds a non-empty ``attr``."""
    if models is None or not models.models:
        return False, f"no model stage record ({attr})"
    missing = [MODEL_TITLES.get(m.name, m.name) for m in models.models if not getattr(m, attr)]
    if missing:
        return False, f"{attr} not recorded for {', '.join(missing)}"
    return True, f"{attr} recorded for " + ", ".join(MODEL_TITLES.get(m.name, m.name) for m in models.models)


def _section_has(sections: Sequence[Section], words: tuple[str, ...], what: str) -> tuple[bool, str]:
    hits = [f"{s.title}: {n}" for s in sections if not s.skipped
            for n in list(s.tables) + list(s.figures) if any(w in n.lower() for w in words)]
    return (True, "; ".join(hits[:3])) if hits else (False, f"no {what} in the report's sections")


def _auc_ci(sections: Sequence[Section]) -> tuple[bool, str]:
    for s in sections:
        for name, df in s.tables.items():
            cols = {str(c).lower() for c in getattr(df, "columns", [])}
            if "auc" in cols and {"ci low", "ci high"} <= cols:
                return True, f"{s.title}: {name} (AUC with 95 % CI)"
    return False, "no AUC table with confidence intervals"


CHECKLIST: list[tuple[str, str, Rule]] = [
    # No loader reads scanner or reconstruction tags today, so this stays "not covered"
    # until a load step records an ``acquisition`` entry.
    ("IBSI", "Image acquisition and reconstruction parameters",
     lambda r: _all(_every_scan(r.provenance, "load_ct", "acquisition"),
                    _every_scan(r.provenance, "load_pet", "acquisition"))),
    ("IBSI", "Image processing software and version", lambda r: _software(r.provenance, "radscore", "SimpleITK")),
    ("IBSI", "SUV conversion (PET intensity normalisation)", _suv_rule),
    ("IBSI", "Interpolation: voxel size, grid alignment, image interpolator",
     lambda r: _every_scan(r.provenance, "resample", "grid.spacing_mm", "grid_alignment", "image_interpolator")),
    ("IBSI", "ROI (mask) interpolation", lambda r: _every_scan(r.provenance, "resample", "mask_interpolation")),
    ("IBSI", "Segmentation / VOI definition",
     lambda r: _all(_every_scan(r.provenance, "load_mask", "source"), _every_scan(r.provenance, "vois", "kept"),
                    _setting(r.config.voi, "voi", "core_mm", "ring_mm", "body_threshold_hu"))),
    ("IBSI", "Re-segmentation (intensity range / outlier filtering)",
     lambda r: _setting(r.config.features, "features", "resegment_range")),
    ("IBSI", "Intensity discretisation (bin width / number)",
     lambda r: _setting(r.config.features, "features", "bin_width_ct", "bin_width_pet", "bin_count_fused")),
    ("IBSI", "Image filters (convolutional / wavelet images)",
     lambda r: _setting(r.config.features, "features", "image_types")),
    ("IBSI", "Feature families and calculation software",
     lambda r: _all(_setting(r.config.features, "features", "feature_classes"),
                    _every_scan(r.provenance, "features", "engine_version"))),
    ("IBSI", "Texture matrix aggregation (2D/3D, merging of directions)",
     lambda r: _setting(r.config.features, "features", "texture_aggregation")),
    ("CLEAR", "Outcome / endpoint definition",
     lambda r: _setting(r.config.endpoint, "endpoint", "column", "positive_name")),
    ("CLEAR", "Data partitioning (training / testing split)",
     lambda r: _all(_setting(r.config.split, "split", "test_fraction", "stratify"), _cohorts(r.models, r.provenance))),
    ("CLEAR", "Feature robustness (segmentation repeatability, ICC)", _robustness_rule),
    ("CLEAR", "Feature selection method",
     lambda r: _all(_setting(r.config.selection, "selection", "univariate_test", "max_features"),
                    _per_model(r.models, "selection_steps"))),
    ("CLEAR", "Model and hyper-parameter tuning",
     lambda r: _all(_setting(r.config.model, "model", "type", "cv_folds"), _per_model(r.models, "best_params"))),
    ("CLEAR", "Random seed(s)", lambda r: _setting(r.config, "study", "seed")),
    ("CLEAR", "Final selected features", lambda r: _per_model(r.models, "selected")),
    ("CLEAR", "Discrimination with uncertainty (AUC and 95 % CI)", lambda r: _auc_ci(r.sections)),
    ("CLEAR", "Calibration", lambda r: _section_has(r.sections, ("calibration",), "calibration table or figure")),
    ("CLEAR", "Clinical utility (decision curve)", lambda r: _section_has(r.sections, ("decision",), "decision curve")),
    ("CLEAR", "Comparison with clinical / non-radiomic models", lambda r: _section_has(
        r.sections, ("delong", "nri", "integrated", "cox"), "comparison with a clinical model")),
    ("CLEAR", "Class imbalance handling", lambda r: _setting(r.config.model, "model", "class_weight")),
    ("CLEAR", "Ethics approval and data availability statement", lambda r: _setting(r.config, "study", "ethics")),
]


def reporting_checklist(config: StudyConfig, provenance: Provenance, models: ModelStageRecord | None,
                        sections: Sequence[Section]) -> pd.DataFrame:
    """IBSI and CLEAR reporting items, each marked covered or not by what this run recorded.

    Parameters
    ----------
    config : StudyConfig
    provenance : Provenance
    models : ModelStageRecord or None
    sections : sequence of Section
        The report's sections (for results-level items: CIs, calibration, decision curves).

    Returns
    -------
    DataFrame
        ``guideline``, ``item``, ``covered`` ("covered" / "not covered") and ``evidence``
        (the recorded values, or what is missing).
    """
    record = RunRecord(config, provenance, models, sections)
    rows = []
    for guideline, item, rule in CHECKLIST:
        ok, evidence = rule(record)
        rows.append({"guideline": guideline, "item": item, "covered": "covered" if ok else "not covered",
                     "evidence": evidence})
    return pd.DataFrame(rows)
