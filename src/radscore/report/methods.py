"""The report's methods section, per-scan table and parameter record.

Everything here reads the run's typed records (through :mod:`radscore.report.records`): the
settings (:class:`~radscore.config.StudyConfig`), what was done to every scan and by which
software (:class:`~radscore.runtime.provenance.Provenance`, whose module docstring lists the
step names and result keys read here; of its study-level stages, ``split`` gives the cohort
sizes and ``robustness`` the ICC source used, its ``n_features``, ``n_kept``, ``n_patients``
or why it was ``skipped``) and what the model stage fitted
(:class:`~radscore.modeling.train.ModelStageRecord`). Nothing is parsed back from display
text, and no statement is made that a record does not hold: where a run did not record
something (e.g. scanner acquisition parameters), the prose leaves it out. The reporting
checklist built from the same records is :mod:`radscore.report.checklist`.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel

from radscore.catalog import IMAGE_MODALITIES, IMAGE_TITLES, MODEL_TITLES, SUV_METHODS, VOIS, modalities_text
from radscore.config import StudyConfig
from radscore.modeling.radscore import default_grid
from radscore.modeling.train import ModelRecord, ModelStageRecord
from radscore.report import records
from radscore.runtime.provenance import Provenance

ICC_TYPES = {"icc2": "ICC(2,1), absolute agreement", "icc3": "ICC(3,1), consistency"}
ICC_SOURCES = {"mask_2": "a second segmentation (manifest mask_2)",
               "perturbation": "masks dilated and eroded by one voxel",
               "auto": "a second segmentation where the manifest has one, else masks dilated and eroded by one voxel"}


# --------------------------------------------------------------------------- formatting

def _num(v: Any, digits: int = 4) -> str:
    return f"{float(v):.{digits}g}"


def _span(values: Iterable[float], digits: int = 4) -> str:
    """``a–b`` (or ``a`` when all equal) of numbers."""
    vals = sorted(float(v) for v in values)
    lo, hi = _num(vals[0], digits), _num(vals[-1], digits)
    return lo if lo == hi else f"{lo}–{hi}"


def _xyz(values: Sequence[Any] | None) -> str | None:
    return " × ".join(f"{float(v):g}" for v in values) if values else None


def _tally(values: Iterable[Any]) -> str:
    """``a (3 scans), b (1 scan)`` in first-seen order."""
    return ", ".join(f"{v} ({records.count(n, 'scan')})" for v, n in Counter(values).items())


def _suv_name(method: str) -> str:
    return f"SUV{method} ({SUV_METHODS.get(method, 'method not in the catalog')})"


# --------------------------------------------------------------------------- per-scan table

def scan_table(provenance: Provenance) -> pd.DataFrame:
    """One row per scan: sources, SUV conversion, grids, VOI volumes, features, warnings.

    Parameters
    ----------
    provenance : Provenance

    Returns
    -------
    DataFrame
        ``scan``, ``CT source``, ``CT spacing (mm)``, ``PET source``, ``SUV``, ``SUV factor``
        (per-slice range when it varies), ``mask source``, ``registration``, ``grid size``,
        ``grid spacing (mm)``, ``<voi> volume (ml)`` for each VOI kept in some scan (blank
        where that scan left it out), ``features`` and ``warnings`` (count); a ``mask
        perturbation`` column when some scan is a perturbed repeat. Blank cells: not recorded.
    """
    rows = []
    for sp in provenance.scans:
        ct, pet, mask = sp.step("load_ct"), sp.step("load_pet"), sp.step("load_mask")
        reg, res, vois, feats = sp.step("register"), sp.step("resample"), sp.step("vois"), sp.step("features")
        suv = records.suv_of(sp)
        row: dict[str, Any] = {
            "scan": sp.scan,
            "CT source": ct and ct.result.get("source"),
            "CT spacing (mm)": ct and _xyz(records.value(ct, "grid.spacing_mm")),
            "PET source": pet and pet.result.get("source"),
            "SUV": {"converted": _suv_name(suv.method or ""), "given": "image in SUV", "no PET": None}.get(
                suv.kind, "not recorded"),
            "SUV factor": _span([suv.factor_min, suv.factor_max]) if suv.kind == "converted" else None,
            # the ROI's name (RTSTRUCT, SEG) follows the source
            "mask source": mask and " ".join(str(v) for v in (mask.result.get("source"), mask.result.get("roi")) if v),
            "registration": reg and records.value(reg, "method"),
            "grid size": res and _xyz(records.value(res, "grid.size")),
            "grid spacing (mm)": res and _xyz(records.value(res, "grid.spacing_mm")),
        }
        if sp.step("perturb_mask") is not None:
            row["mask perturbation"] = records.value(sp.step("perturb_mask"), "perturbation")
        kept = set(vois.result.get("kept", ())) if vois else set()
        for voi, ml in ((vois.result.get("volume_ml") or {}) if vois else {}).items():
            if voi in kept:
                row[f"{voi} volume (ml)"] = float(ml)
        row["features"] = feats and feats.result.get("n_features")
        row["warnings"] = len(sp.warnings)
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(dict.fromkeys(k for r in rows for k in r)) or ["scan"])
    # VOI columns in the catalog's order, after the grid; counts stay integers with blanks.
    vol = [f"{v} volume (ml)" for v in VOIS if f"{v} volume (ml)" in df.columns]
    df = df[[c for c in df.columns if c not in vol + ["features", "warnings"]] + vol
            + [c for c in ("features", "warnings") if c in df.columns]]
    for c in ("features", "warnings"):
        if c in df.columns:
            df[c] = pd.array([None if pd.isna(v) else int(v) for v in df[c]], dtype="Int64")
    return df


# --------------------------------------------------------------------------- methods prose

def _software_text(p: Provenance) -> str | None:
    if not p.software:
        return None
    text = "Analyses used " + ", ".join(f"{k} {v}" for k, v in p.software.items()) + "."
    if p.settings_hash:
        text += f" Settings hash {p.settings_hash}."
    return text + " Every setting, input hash and per-scan step is recorded in provenance.json."


def _images_text(p: Provenance) -> str | None:
    if not p.scans:
        return None
    parts = []
    ct = [st.result.get("source") for st in records.steps(p, "load_ct")]
    if ct:
        parts.append(f"CT was read from {_tally(s or 'an unrecorded source' for s in ct)}.")
    suvs = [records.suv_of(sp) for sp in p.scans]
    by_method: dict[str, list[records.Suv]] = {}
    for s in suvs:
        if s.kind == "converted":
            by_method.setdefault(s.method or "", []).append(s)
    pet = []
    for method, group in by_method.items():
        factors = [f for s in group for f in (s.factor_min, s.factor_max)]
        pet.append(f"PET DICOM series of {records.count(len(group), 'scan')} were converted to {_suv_name(method)} "
                   f"from their tags (factor range {_span(factors)})")
    if n_given := sum(s.kind == "given" for s in suvs):
        pet.append(f"{n_given} PET image{'s were' if n_given != 1 else ' was'} given in SUV")
    if n_none := sum(s.kind == "unrecorded" for s in suvs):
        pet.append(f"{records.count(n_none, 'scan')} {'have' if n_none != 1 else 'has'} no SUV record")
    if pet:
        parts.append("; ".join(pet) + ".")
    suv_dicts = [st.result["suv"] for st in records.steps(p, "load_pet") if isinstance(st.result.get("suv"), dict)]
    if decay := [d["decay_correction"] for d in suv_dicts if d.get("decay_correction")]:
        parts.append(f"Decay correction (DICOM): {_tally(decay)}.")
    if tags := sorted({k for d in suv_dicts for k in (d.get("tags_used") or {})}):
        parts.append(f"The values read for the SUV ({', '.join(tags)}) and their DICOM tags are listed per scan "
                     "in provenance.json.")
    masks = [" ".join(str(v) for v in (st.result.get("source"), "ROI" if st.result.get("source") == "RTSTRUCT"
                                       else None) if v) for st in records.steps(p, "load_mask")]
    if masks:
        parts.append(f"Masks came from {_tally(masks)}.")
    if moved := sum(bool(st.result.get("resampled_onto_ct")) for st in records.steps(p, "check_mask")):
        parts.append(f"{records.count(moved, 'mask')} not on the CT grid {'were' if moved != 1 else 'was'} "
                     "resampled onto it.")
    if reg := [records.value(st, "method") for st in records.steps(p, "register")]:
        parts.append(f"PET-to-CT registration: {_tally(m or 'not recorded' for m in reg)}.")
    return " ".join(parts)


def _preprocess_text(c: StudyConfig, p: Provenance) -> str:
    pp = c.preprocess
    mods = c.scan.modalities
    base = "CT" if "ct" in mods else "PET"
    target = f"{_xyz(pp.spacing_mm)} mm voxels" if pp.spacing_mm else f"the {base}'s own voxels"
    other = "PET" if "ct" in mods else "CT"
    images = "CT, PET and masks" if len(mods) == 2 else f"{base} images (the study has no {other}) and masks"
    text = (f"{images} were resampled onto a common grid of {target} with {pp.image_interpolator} "
            f"interpolation for images and {pp.mask_interpolation} interpolation for masks")
    res = records.steps(p, "resample")
    if align := {str(records.value(st, "grid_alignment")) for st in res if records.value(st, "grid_alignment")}:
        text += f" (grid alignment: {', '.join(sorted(align))})"
    text += "."
    if "pet" in mods and pp.image_interpolator == "bspline" and pp.pet_overshoot == "clip":
        text += " Resampled PET values were clamped to the source PET's range (no B-spline overshoot above SUVmax)."
    if pp.crop_margin_mm is not None:
        text += f" Images were cropped to the tumour's box plus {pp.crop_margin_mm:g} mm before resampling."
    if sizes := [records.value(st, "grid.size") for st in res if records.value(st, "grid.size")]:
        n_vox = [int(x) * int(y) * int(z) for x, y, z in sizes]
        text += f" The common grids held {_span(n_vox, 6)} voxels ({records.count(len(sizes), 'scan')})."
    return text


def _voi_text(c: StudyConfig, p: Provenance) -> str:
    v = c.voi
    body = (f"restricted to body voxels above {v.body_threshold_hu:g} HU" if "ct" in c.scan.modalities
            else "not restricted to the body, which needs a CT")
    text = (f"Four VOIs per lesion: the tumour, its core (eroded by {v.core_mm:g} mm), a peritumoural ring "
            f"({v.ring_mm:g} mm, {body}) and tumour plus ring; "
            f"VOIs with fewer than {v.min_voxels} voxels were left out.")
    steps = records.steps(p, "vois")
    tumour = [float(st.result["volume_ml"]["tumor"]) for st in steps if "tumor" in (st.result.get("volume_ml") or {})]
    if tumour:
        text += (f" Tumour volume: median {_num(statistics.median(tumour), 3)} ml "
                 f"(range {_span(tumour, 3)}, {records.count(len(tumour), 'scan')}).")
    left = [voi for st in steps for voi in (st.result.get("volume_ml") or {}) if voi not in st.result.get("kept", ())]
    if left:
        text += f" Left out: {_tally(left)}."
    return text


def _fusion_text(c: StudyConfig, p: Provenance) -> str:
    if len(c.scan.modalities) < 2:
        return f"No fused image: the study has {modalities_text(c.scan.modalities)} only."
    recorded = {json.dumps(st.result, sort_keys=True) for st in records.steps(p, "fuse")}
    text = f"PET and CT were fused into a third image by the {c.fusion.method} method"
    if len(recorded) == 1:
        text += " (" + "; ".join(f"{k}: {records.display(v)}" for k, v in json.loads(recorded.pop()).items()) + ")"
    elif recorded:
        text += " (its parameters differ between scans: see provenance.json)"
    return text + "."


def _images(c: StudyConfig) -> list[str]:
    """The configured images the study's modalities allow (no fused image without PET and CT)."""
    return [i for i in c.features.images if all(m in c.scan.modalities for m in IMAGE_MODALITIES[i])]


def _features_text(c: StudyConfig, p: Provenance) -> str:
    f = c.features
    text = (f"Features of the classes {', '.join(f.feature_classes)} were computed from the image types "
            f"{', '.join(f.image_types)} on the {', '.join(IMAGE_TITLES.get(i, i) for i in _images(c))} images and the "
            f"VOIs {', '.join(f.vois)}, with PyRadiomics definitions")
    steps = records.steps(p, "features")
    if engines := sorted({str(st.result["engine_version"]) for st in steps if st.result.get("engine_version")}):
        text += f" (engine {', '.join(engines)})"
    text += (f". Discretisation: CT bin width {f.bin_width_ct:g} HU, PET bin width {f.bin_width_pet:g} SUV, fused "
             f"image {f.bin_count_fused} bins.")
    if counts := [int(st.result["n_features"]) for st in steps if st.result.get("n_features") is not None]:
        text += f" {_span(counts, 9)} features per scan ({records.count(len(counts), 'scan')})."
    return text


def _robustness_text(c: StudyConfig, p: Provenance) -> str:
    r, stage = c.robustness, p.stage("robustness")
    done = stage.result if stage is not None else {}
    if r.icc_source == "off" or done.get("skipped"):
        return f"No robustness filter was applied ({done.get('skipped') or 'robustness.icc_source: off'})."
    # the stage records which source "auto" resolved to; without it, the configured rule is stated
    source = done.get("source") if done.get("source") in ICC_SOURCES else r.icc_source
    text = (f"Features whose ICC on the training patients was below {r.icc_threshold:g} ({ICC_TYPES[r.icc_type]}; "
            f"repeated features from {ICC_SOURCES[source]}) were removed before modelling")
    if done.get("n_kept") is not None and done.get("n_features") is not None:
        text += f": {done['n_kept']} of {done['n_features']} features kept"
        if done.get("n_patients"):
            text += f" ({done['n_patients']} patients)"
    text += "."
    if perturbed := [records.value(st, "perturbation") for st in records.steps(p, "perturb_mask")]:
        text += f" Perturbed masks recorded: {_tally(perturbed)}."
    return text


def _fit_summary(m: ModelRecord) -> str:
    """Cutoff and training AUCs of one Radscore (nested CV only when it ran)."""
    text = f"cutoff {m.cutoff:.4f} ({m.cutoff_method}); CV AUC {_num(m.cv_auc, 3)}"
    if m.nested_cv_folds and m.nested_cv_auc == m.nested_cv_auc:  # NaN when nested CV was not possible
        text += f"; nested-CV AUC {_num(m.nested_cv_auc, 3)} ± {_num(m.nested_cv_sd, 2)} ({m.nested_cv_folds} folds)"
    return text


def _model_line(m: ModelRecord) -> str:
    tuned = ", ".join(f"{k} = {records.display(v)}" for k, v in sorted(m.best_params.items())) or "nothing"
    return (f"{MODEL_TITLES.get(m.name, m.name)}: {m.n_selected} of {m.n_features} features selected; "
            f"tuned {tuned}; {_fit_summary(m)}")


def _modelling_text(c: StudyConfig, p: Provenance, models: ModelStageRecord | None) -> str:
    s, sel, mod = c.split, c.selection, c.model
    text = f"Patients were split at random (test fraction {s.test_fraction:g}, stratified: {str(s.stratify).lower()}"
    if counts := records.cohort_counts(models, p):
        text += "; " + counts
    text += (f"). On the training cohort only, features were selected ({sel.univariate_test} p < {sel.ttest_p:g}, "
             f"near-duplicates above |r| = {sel.correlation_threshold:g} removed, LASSO with {sel.lasso_cv_folds}-fold "
             f"CV, at most {sel.max_features} features")
    if sel.mrmr_features:
        text += f", mRMR keeping {sel.mrmr_features}"
    if sel.rfe_features:
        text += f", RFE keeping {sel.rfe_features}"
    kind = "XGBoost models" if mod.type == "xgboost" else "random forests (scikit-learn)"
    text += (f") and {kind} tuned by {mod.cv_folds}-fold cross-validated grid search over "
             f"{records.display(mod.grid or default_grid(mod.type))}; the risk cutoff was chosen by {mod.cutoff} on the training cohort. "
             f"The study seed was {c.seed}.")
    if models is None:
        return text + " The model stage's record is absent, so no fitted values are reported."
    steps = sorted({" → ".join(m.selection_steps) for m in models.models if m.selection_steps})
    if steps:
        text += f" Selection steps: {'; '.join(steps)}."
    return text + " " + ". ".join(_model_line(m) for m in models.models) + "."


def methods_paragraphs(config: StudyConfig, provenance: Provenance,
                       models: ModelStageRecord | None) -> list[tuple[str, str]]:
    """Methods-section prose from the run's records: a list of (heading, paragraph).

    Settings come from ``config``, per-scan facts (sources, SUV factors, grids, volumes,
    feature counts) from ``provenance``, fitted values from ``models``; a paragraph whose
    record is empty is left out rather than guessed.
    """
    out = [("Software", _software_text(provenance)),
           ("Images and SUV conversion", _images_text(provenance)),
           ("Preprocessing", _preprocess_text(config, provenance)),
           ("Volumes of interest", _voi_text(config, provenance)),
           ("Image fusion", _fusion_text(config, provenance)),
           ("Feature extraction", _features_text(config, provenance)),
           ("Feature robustness", _robustness_text(config, provenance)),
           ("Selection and modelling", _modelling_text(config, provenance, models))]
    return [(head, text) for head, text in out if text]


# --------------------------------------------------------------------------- parameter record

BLOCK_TITLES = {"voi": "VOI", "preprocess": "Preprocessing"}


def _flat(model: BaseModel, prefix: str = "") -> dict[str, str]:
    """A settings section as ``key -> display value``; nested sections (analyses) as dotted keys."""
    out: dict[str, str] = {}
    for key in type(model).model_fields:
        value = getattr(model, key)
        if isinstance(value, BaseModel):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = records.display(value)
    return out


def parameter_blocks(config: StudyConfig, models: ModelStageRecord | None, *,
                     software: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The parameter record as display blocks, in methods order (display only: nothing reads it back).

    Parameters
    ----------
    config : StudyConfig
    models : ModelStageRecord or None
    software : dict, optional
        Package -> version (``Provenance.software``), shown first.

    Returns
    -------
    dict
        Block title -> {setting: display string}: Software, Study, one block per settings
        section (Endpoint ... Analyses, including Robustness), then Selected features,
        Tuned hyper-parameters and Cutoffs (when ``models`` is given).
    """
    blocks: dict[str, dict[str, str]] = {"Software": dict(software)} if software else {}
    sections = [k for k in type(config).model_fields if isinstance(getattr(config, k), BaseModel)]
    blocks["Study"] = {k: records.display(v) for k, v in config.model_dump(mode="json").items() if k not in sections}
    for key in sections:
        blocks[BLOCK_TITLES.get(key, key.capitalize())] = _flat(getattr(config, key))
    if models is not None:
        title = {m.name: MODEL_TITLES.get(m.name, m.name) for m in models.models}
        blocks["Selected features"] = {title[m.name]: ", ".join(m.selected) or "(none)" for m in models.models}
        blocks["Tuned hyper-parameters"] = {title[m.name]: records.display(m.best_params) for m in models.models}
        blocks["Cutoffs and cross-validated AUC (training only)"] = {
            title[m.name]: _fit_summary(m) for m in models.models}
    return blocks
