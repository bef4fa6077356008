"""Extraction stage: every manifest row's images → one row of ``features.parquet``.

Each scan (patient, time point, lesion) is one task run in a worker process. Its
result is cached under a key made of its input files' content hashes and the settings
that shape its values, the moment it finishes, so an interrupted run loses only the
scans still in flight. A scan that fails becomes a QC row naming the patient, file and
problem; the rest of the cohort carries on.
"""

from __future__ import annotations

import logging
import math
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from radscore.config import StudyConfig
from radscore.errors import RadscoreError
from radscore.runtime.cache import ResultCache, make_key
from radscore.runtime.executor import run_tasks
from radscore.runtime.files import sha256_file
from radscore.runtime.progress import progress

log = logging.getLogger(__name__)

ID_COLUMNS = ["patient_id", "timepoint", "lesion_id", "site"]


@dataclass(frozen=True)
class ScanTask:
    """Everything a worker needs for one scan (plain data, sent to other processes)."""

    patient_id: str
    timepoint: str
    lesion_id: str
    site: str
    ct: str | None
    pet: str | None
    mask: str | None
    mask_roi: str | None
    weight_kg: float | None
    dose_mbq: float | None
    config: dict
    perturbation: str | None = None  # e.g. "dilate_1": features of a perturbed mask, for the ICC


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def scan_tasks(manifest: pd.DataFrame, config: StudyConfig, perturbation: str | None = None) -> list[ScanTask]:
    cfg = config.to_dict()
    tasks = []
    for row in manifest.itertuples(index=False):
        r = row._asdict()
        tasks.append(ScanTask(
            patient_id=str(r["patient_id"]), timepoint=str(r["timepoint"]), lesion_id=str(r["lesion_id"]),
            site=str(r.get("site") or "primary") if not pd.isna(r.get("site", None)) else "primary",
            ct=r.get("ct"), pet=r.get("pet"), mask=r.get("mask"),
            mask_roi=None if pd.isna(r.get("mask_roi", None)) else str(r.get("mask_roi")),
            weight_kg=_num(r.get("weight_kg")), dose_mbq=_num(r.get("dose_mbq")), config=cfg,
            perturbation=perturbation,
        ))
    return tasks


def _content_hash(path: str | None) -> str:
    if not path:
        return "none"
    p = Path(path)
    if p.is_dir():
        return make_key(*[sha256_file(f) for f in sorted(p.rglob("*")) if f.is_file()])
    return sha256_file(p) if p.is_file() else "missing"


def task_key(task: ScanTask, config: StudyConfig) -> str:
    """Cache key: input content + every setting that changes feature values."""
    from radscore import __version__
    from radscore.features.extract import settings_fingerprint

    return make_key(
        "scan-v1", __version__, _content_hash(task.ct), _content_hash(task.pet), _content_hash(task.mask),
        task.mask_roi, task.perturbation, task.weight_kg, task.dose_mbq, config.stage_hash("preprocess", "voi", "fusion"),
        settings_fingerprint(config.features),
    )


def process_scan(task: ScanTask) -> dict:
    """Load, preprocess and extract one scan (runs in a worker process)."""
    from radscore.config import config_from_dict
    from radscore.features.extract import extract_features
    from radscore.imaging.preprocess import prepare_patient
    from radscore.io.images import load_image, load_mask

    config = config_from_dict(task.config)
    pid = task.patient_id
    ct = load_image(task.ct, modality="ct", patient=pid)
    pet = load_image(task.pet, modality="pet", patient=pid, weight_kg=task.weight_kg, dose_mbq=task.dose_mbq,
                     suv_method=config.preprocess.suv_method)
    mask = load_mask(task.mask, patient=pid, roi=task.mask_roi, reference=ct)
    if task.perturbation:
        mask = _perturbed(mask, task.perturbation, config.seed)
    prepared = prepare_patient(ct, pet, mask, config, patient=pid)
    feats = extract_features(prepared.images, prepared.vois, config.features, patient=pid)
    return {"features": {k: float(v) for k, v in feats.items()}, "record": prepared.record,
            "warnings": list(prepared.warnings)}


def _perturbed(mask, name: str, seed: int):
    """The named perturbation of a mask (same grid), from the imaging stage's set."""
    import numpy as np
    import SimpleITK as sitk

    from radscore.imaging.perturb import perturbed_masks

    arr = sitk.GetArrayFromImage(mask).astype(bool)
    variants = perturbed_masks(arr, tuple(reversed(mask.GetSpacing())), seed=seed, n_random=1)
    if name not in variants:
        raise RadscoreError(f"mask perturbation '{name}' leaves no voxel.", fix="use a larger tumour mask.")
    out = sitk.GetImageFromArray(variants[name].astype(np.uint8))
    out.CopyInformation(mask)
    return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RadscoreError):
        return exc.message
    # Unexpected: keep the innermost frame so a bug report is possible, no header data.
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    if not tb and getattr(exc, "where", ""):  # raised in a worker process (see runtime.executor)
        where = f" (at {exc.where})"
    return f"unexpected error {type(exc).__name__}: {exc}{where}"


def run_extract(config: StudyConfig, manifest: pd.DataFrame, cache_dir: Path, *, workers: int | None = None,
                scheduler: str | None = None, perturbation: str | None = None,
                desc: str = "extracting") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Extract features for every manifest row (of ``perturbation`` of each mask when given).

    Returns
    -------
    features : DataFrame
        One row per scan that succeeded: :data:`ID_COLUMNS` then feature columns (sorted).
    qc : DataFrame
        One row per problem: patient_id, timepoint, lesion_id, stage, severity, problem.
    records : dict
        Per-scan preprocessing records (for the report's parameter record).
    """
    cache = ResultCache(cache_dir)
    tasks = scan_tasks(manifest, config, perturbation)
    keys, results, todo = [], {}, []
    for i, t in enumerate(tasks):
        try:
            key = task_key(t, config)
        except OSError as exc:
            key = None
            results[i] = {"error": f"cannot read input ({exc.strerror}): {exc.filename}"}
        keys.append(key)
        if key is not None:
            hit = cache.get_json(key)
            if hit is not None:
                results[i] = hit
            else:
                todo.append(i)
    log.info("extraction: %d scans, %d cached, %d to compute", len(tasks), len(tasks) - len(todo), len(todo))
    if todo and scheduler is None:
        from radscore.features import engine

        engine.warm_up()  # forked workers start with PyRadiomics and the numba kernels loaded
    bar = progress(total=len(todo), desc=desc, unit="scan")
    for res in run_tasks(process_scan, [tasks[i] for i in todo], workers=workers, scheduler=scheduler,
                         memory_limit_gb=config.runtime.memory_limit_gb):
        i = todo[res.index]
        if res.error is None:
            results[i] = res.value
            cache.put_json(keys[i], res.value)
        else:
            results[i] = {"error": _describe(res.error)}
            log.warning("patient %s (%s, lesion %s): %s", tasks[i].patient_id, tasks[i].timepoint,
                        tasks[i].lesion_id, results[i]["error"])
        bar.update(1)
    bar.close()

    rows, qc, records = [], [], {}
    for i, t in enumerate(tasks):
        ident = {"patient_id": t.patient_id, "timepoint": t.timepoint, "lesion_id": t.lesion_id, "site": t.site}
        r = results[i]
        if "error" in r:
            qc.append({**ident, "stage": "extract", "severity": "excluded", "problem": r["error"]})
            continue
        rows.append({**ident, **r["features"]})
        records[f"{t.patient_id}/{t.timepoint}/{t.lesion_id}"] = r["record"]
        for w in r["warnings"]:
            qc.append({**ident, "stage": "extract", "severity": "warning", "problem": w})
    features = pd.DataFrame(rows)
    if not features.empty:
        feat_cols = sorted(c for c in features.columns if c not in ID_COLUMNS)
        features = features[ID_COLUMNS + feat_cols].sort_values(["patient_id", "timepoint", "lesion_id"])
        features = features.reset_index(drop=True)
    qc_df = pd.DataFrame(qc, columns=["patient_id", "timepoint", "lesion_id", "site", "stage", "severity", "problem"])
    return features, qc_df, records
