"""The run's parameter record, its methods-section prose, and a radiomics reporting checklist.

The parameter record is what a study run actually used (software versions, the study
settings, the selected features and tuned hyper-parameters, a per-scan preprocessing
record). The checklist is *derived from that record*: an item is "covered" only when
the record holds the information the item asks for, so a run that did not record
something (e.g. scanner acquisition parameters of NIfTI inputs) says so.

References
----------
Zwanenburg A, et al. The Image Biomarker Standardization Initiative. Radiology
2020;295:328-338 (reporting guidelines, Table 3 of the IBSI reference manual).
Kocak B, et al. CheckList for EvaluAtion of Radiomics research (CLEAR). Insights
Imaging 2023;14:75.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from radscore.report.sections import Section

SETTING_BLOCKS = ("endpoint", "split", "preprocess", "voi", "fusion", "features", "selection", "model")
MODEL_TITLES = {"pet": "PET-Radscore", "ct": "CT-Radscore", "petct": "PET/CT-Radscore", "comb": "COMB-Radscore"}


def _cell(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else v


def parameter_record(config: dict, state: dict, records: dict, versions: dict[str, str]) -> dict[str, Any]:
    """The full parameter record of a run, as display blocks in methods order.

    Parameters
    ----------
    config : dict
        ``StudyConfig.to_dict()``.
    state : dict
        The model stage's record: ``selected``, ``best_params``, ``cutoffs``, ``cv_auc``.
    records : dict
        Per-scan preprocessing records (scan key -> ``PreparedPatient.record``).
    versions : dict
        Package -> version.

    Returns
    -------
    dict
        Block title -> dict of setting -> value (or a preformatted string).
    """
    params: dict[str, Any] = {"Software": dict(versions),
                              "Study": {"name": config["name"], "seed": config["seed"],
                                        "manifest": config["manifest"]}}
    for block in SETTING_BLOCKS:
        params[block.capitalize()] = {k: _cell(v) for k, v in config.get(block, {}).items()}
    params["Selected features"] = {MODEL_TITLES.get(m, m): ", ".join(f) for m, f in state.get("selected", {}).items()}
    params["Tuned hyper-parameters"] = {MODEL_TITLES.get(m, m): json.dumps(p, sort_keys=True)
                                        for m, p in state.get("best_params", {}).items()}
    params["Cutoffs and cross-validated AUC (training only)"] = {
        MODEL_TITLES.get(m, m): f"cutoff {c:.4f} ({config.get('model', {}).get('cutoff', '?')}); "
                                f"CV AUC {state.get('cv_auc', {}).get(m, float('nan')):.3f}"
        for m, c in state.get("cutoffs", {}).items()}
    if records:
        first = sorted(records)[0]
        params[f"Preprocessing record (example: scan {first})"] = json.dumps(records[first], indent=1, sort_keys=True)
    return params


def _get(params: dict, block: str, key: str) -> Any:
    b = params.get(block)
    return b.get(key) if isinstance(b, dict) else None


def _example_record(params: dict) -> dict:
    for name, block in params.items():
        if name.startswith("Preprocessing record") and isinstance(block, str):
            try:
                return json.loads(block)
            except json.JSONDecodeError:
                return {}
    return {}


def methods_paragraphs(params: dict) -> list[tuple[str, str]]:
    """Methods-section prose generated from the record (heading, paragraph); nothing invented."""
    out = []
    sw = params.get("Software", {})
    if sw:
        out.append(("Software", "Analyses used " + ", ".join(f"{k} {v}" for k, v in sw.items()) + "."))
    pre, voi, fus, feat = (params.get(b, {}) for b in ("Preprocess", "Voi", "Fusion", "Features"))
    if pre:
        sp = pre.get("spacing_mm")
        out.append(("Preprocessing", (
            f"CT was resampled to {sp} mm voxels (centre-aligned grid) with {pre.get('image_interpolator')} "
            f"interpolation and PET resampled onto the CT grid; masks used {pre.get('mask_interpolation')} "
            f"interpolation. PET-to-CT registration: {pre.get('registration')}. SUV normalisation: "
            f"{pre.get('suv_method')}.")))
    if voi:
        out.append(("Volumes of interest", (
            f"Four VOIs per lesion: the tumour, its core (eroded by {voi.get('core_mm')} mm), a peritumoural ring "
            f"({voi.get('ring_mm')} mm, restricted to body voxels above {voi.get('body_threshold_hu')} HU) and "
            f"tumour plus ring; VOIs with fewer than {voi.get('min_voxels')} voxels were left out.")))
    if fus:
        out.append(("Image fusion", f"PET and CT were fused by the {fus.get('method')} method "
                                    f"(settings: {json.dumps(fus, sort_keys=True)})."))
    if feat:
        out.append(("Feature extraction", (
            f"Features ({feat.get('feature_classes')}) were extracted with PyRadiomics "
            f"{sw.get('pyradiomics-bhklab', '(version not recorded)')} from image types {feat.get('image_types')} on "
            f"images {feat.get('images')} and VOIs {feat.get('vois')}; discretisation: CT bin width "
            f"{feat.get('bin_width_ct')} HU, PET bin width {feat.get('bin_width_pet')} SUV, fused image "
            f"{feat.get('bin_count_fused')} bins.")))
    sel, mod, split = params.get("Selection", {}), params.get("Model", {}), params.get("Split", {})
    if sel or mod:
        out.append(("Selection and modelling", (
            f"Patients were split into training and testing cohorts (test fraction {split.get('test_fraction')}, "
            f"stratified: {split.get('stratify')}). On the training cohort only, features were filtered "
            f"(settings: {json.dumps(sel, sort_keys=True)}) and XGBoost models tuned by {mod.get('cv_folds')}-fold "
            f"cross-validation over the grid {mod.get('grid')}; the risk cutoff was chosen by {mod.get('cutoff')} "
            f"in training. The study seed was {_get(params, 'Study', 'seed')}.")))
    return out


Rule = Callable[[dict, list[Section]], tuple[bool, str]]


def _has(params: dict, block: str, *keys: str) -> tuple[bool, str]:
    vals = {k: _get(params, block, k) for k in keys}
    present = {k: v for k, v in vals.items() if v is not None and v != ""}
    missing = [k for k in keys if k not in present]
    if missing:
        return False, f"not recorded: {block.lower()}.{', '.join(missing)}"
    return True, "; ".join(f"{block.lower()}.{k} = {v}" for k, v in present.items())


def _record_has(params: dict, *path: str) -> tuple[bool, str]:
    node: Any = _example_record(params)
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return False, f"per-scan record lacks {'.'.join(path)}"
        node = node[p]
    return True, f"per-scan record {'.'.join(path)} = {json.dumps(node, sort_keys=True)[:120]}"


def _section_has(sections: list[Section], words: tuple[str, ...], what: str) -> tuple[bool, str]:
    hits = [f"{s.title}: {n}" for s in sections if not s.skipped
            for n in list(s.tables) + list(s.figures) if any(w in n.lower() for w in words)]
    return (True, "; ".join(hits[:3])) if hits else (False, f"no {what} in the report's sections")


def _auc_ci(sections: list[Section]) -> tuple[bool, str]:
    for s in sections:
        for name, df in s.tables.items():
            cols = {c.lower() for c in getattr(df, "columns", [])}
            if "auc" in cols and {"ci low", "ci high"} <= cols:
                return True, f"{s.title}: {name} (AUC with 95 % CI)"
    return False, "no AUC table with confidence intervals"


CHECKLIST: list[tuple[str, str, Rule]] = [
    ("IBSI", "Image acquisition and reconstruction parameters",
     lambda p, s: _record_has(p, "acquisition")),
    ("IBSI", "Image processing software and version", lambda p, s: _has(p, "Software", "radscore", "SimpleITK")),
    ("IBSI", "SUV conversion (PET intensity normalisation)", lambda p, s: _has(p, "Preprocess", "suv_method")),
    ("IBSI", "Interpolation: voxel size, grid alignment, image interpolator",
     lambda p, s: _record_has(p, "resampling", "grid_alignment") if _has(p, "Preprocess", "spacing_mm",
                                                                          "image_interpolator")[0]
     else _has(p, "Preprocess", "spacing_mm", "image_interpolator")),
    ("IBSI", "ROI (mask) interpolation", lambda p, s: _has(p, "Preprocess", "mask_interpolation")),
    ("IBSI", "Segmentation / VOI definition", lambda p, s: _has(p, "Voi", "core_mm", "ring_mm", "body_threshold_hu")),
    ("IBSI", "Re-segmentation (intensity range / outlier filtering)",
     lambda p, s: _has(p, "Features", "resegment_range")),
    ("IBSI", "Intensity discretisation (bin width / number)",
     lambda p, s: _has(p, "Features", "bin_width_ct", "bin_width_pet")),
    ("IBSI", "Image filters (convolutional / wavelet images)", lambda p, s: _has(p, "Features", "image_types")),
    ("IBSI", "Feature families and calculation software", lambda p, s: (
        _has(p, "Features", "feature_classes")[0] and _has(p, "Software", "pyradiomics-bhklab")[0],
        _has(p, "Features", "feature_classes")[1] + "; " + _has(p, "Software", "pyradiomics-bhklab")[1])),
    ("IBSI", "Texture matrix aggregation (2D/3D, merging of directions)",
     lambda p, s: _has(p, "Features", "texture_aggregation")),
    ("CLEAR", "Outcome / endpoint definition", lambda p, s: _has(p, "Endpoint", "column", "positive_name")),
    ("CLEAR", "Data partitioning (training / testing split)", lambda p, s: _has(p, "Split", "test_fraction",
                                                                                "stratify")),
    ("CLEAR", "Feature robustness (segmentation repeatability, ICC)",
     lambda p, s: _has(p, "Selection", "icc_threshold", "icc_type")),
    ("CLEAR", "Feature selection method", lambda p, s: _has(p, "Selection", "univariate_test", "max_features")),
    ("CLEAR", "Model and hyper-parameter tuning", lambda p, s: (
        _has(p, "Model", "grid", "cv_folds")[0] and bool(p.get("Tuned hyper-parameters")),
        _has(p, "Model", "grid", "cv_folds")[1] + (" ; tuned values recorded" if p.get("Tuned hyper-parameters")
                                                   else " ; tuned values not recorded"))),
    ("CLEAR", "Random seed(s)", lambda p, s: _has(p, "Study", "seed")),
    ("CLEAR", "Final selected features", lambda p, s: (bool(p.get("Selected features")),
                                                       "listed per model" if p.get("Selected features")
                                                       else "not recorded")),
    ("CLEAR", "Discrimination with uncertainty (AUC and 95 % CI)", lambda p, s: _auc_ci(s)),
    ("CLEAR", "Calibration", lambda p, s: _section_has(s, ("calibration",), "calibration table or figure")),
    ("CLEAR", "Clinical utility (decision curve)", lambda p, s: _section_has(s, ("decision",), "decision curve")),
    ("CLEAR", "Comparison with clinical / non-radiomic models", lambda p, s: _section_has(
        s, ("delong", "nri", "integrated", "cox"), "comparison with a clinical model")),
    ("CLEAR", "Class imbalance handling", lambda p, s: _has(p, "Model", "class_weight")),
    ("CLEAR", "Ethics approval and data availability statement", lambda p, s: _has(p, "Study", "ethics")),
]


def reporting_checklist(params: dict, sections: list[Section]) -> pd.DataFrame:
    """IBSI and CLEAR reporting items, each marked covered or not by this run's record.

    Parameters
    ----------
    params : dict
        The record from :func:`parameter_record`.
    sections : list of Section
        The report's sections (for results-level items: CIs, calibration, decision curves).

    Returns
    -------
    DataFrame
        ``guideline``, ``item``, ``covered`` ("covered" / "not covered") and ``evidence``
        (the recorded value, or what is missing).
    """
    rows = []
    for guideline, item, rule in CHECKLIST:
        ok, evidence = rule(params, sections)
        rows.append({"guideline": guideline, "item": item, "covered": "covered" if ok else "not covered",
                     "evidence": evidence})
    return pd.DataFrame(rows)
