"""Score new scans with a trained model: the model's own preprocessing and extraction, then its Radscore.

Used by ``radscore predict`` and the decision-support page, so both give the same number.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from radscore.config import config_from_dict
from radscore.pipeline.extract import ScanTask, _describe, process_scan
from radscore.runtime.executor import run_tasks


def scan_task(settings: dict, patient_id: str, ct: str, pet: str, mask: str, *, timepoint: str = "baseline",
              weight_kg: float | None = None, dose_mbq: float | None = None) -> ScanTask:
    """A :class:`ScanTask` carrying the model's stored settings (validated here)."""
    config_from_dict(settings, source="model manifest.json settings")
    return ScanTask(patient_id=str(patient_id), timepoint=timepoint, lesion_id="1", site="primary", ct=ct, pet=pet,
                    mask=mask, mask_roi=None, weight_kg=weight_kg, dose_mbq=dose_mbq, config=settings)


def predict_scans(model_dir: str | Path, scans: list[dict], *, workers: int | None = 1) -> pd.DataFrame:
    """Radscore, probability, group and warnings for each scan.

    Parameters
    ----------
    model_dir : path
        A model folder written by a study run (``DIR/models/<name>``).
    scans : list of dict
        Each with ``patient_id``, ``ct``, ``pet``, ``mask`` and optionally ``timepoint``,
        ``weight_kg``, ``dose_mbq``.

    Returns
    -------
    DataFrame
        patient_id, timepoint, model, radscore, probability, group, warnings (list of str),
        error (None, or why the scan could not be scored).
    """
    from radscore.modeling.artifact import load_model

    model = load_model(model_dir)
    settings = model.manifest["settings"]
    tasks = [scan_task(settings, s["patient_id"], s["ct"], s["pet"], s["mask"],
                       timepoint=s.get("timepoint", "baseline"), weight_kg=s.get("weight_kg"),
                       dose_mbq=s.get("dose_mbq")) for s in scans]
    rows: list[dict | None] = [None] * len(tasks)
    for res in run_tasks(process_scan, tasks, workers=workers):
        t = tasks[res.index]
        base = {"patient_id": t.patient_id, "timepoint": t.timepoint, "model": model.name}
        if res.error is not None:
            rows[res.index] = {**base, "radscore": None, "probability": None, "group": None, "warnings": [],
                               "error": _describe(res.error)}
            continue
        feats = pd.DataFrame([{"patient_id": t.patient_id, **res.value["features"]}])
        scored = model.score(feats).iloc[0]
        rows[res.index] = {**base, "radscore": float(scored["radscore"]), "probability": float(scored["probability"]),
                           "group": scored["group"], "warnings": list(res.value["warnings"]) + list(scored["warnings"]),
                           "error": None}
    return pd.DataFrame(rows)
