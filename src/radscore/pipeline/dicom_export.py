"""DICOM outputs of ``radscore run`` (``outputs.dicom``) and ``radscore predict --dicom-out``.

For every scan whose reference image (the CT, or the PET without a CT) is a DICOM series,
the scan is prepared again with the model's (or the study's) scan settings, the one path
:func:`radscore.imaging.preprocess.prepare_scan` (deterministic, so its VOIs are those the
features were computed on), and :func:`radscore.io.dicom_out.write_dicom_outputs` writes
``<out>/<patient>_<timepoint>_<lesion>/seg.dcm`` and ``sr.dcm``. A scan from image files
(NIfTI, NRRD, ...) has no source series to refer to: it is listed as skipped with the
reason, never given a made-up series. ``<out>/index.csv`` lists every scan's status.
File and folder names use the manifest's IDs only, never a DICOM header value.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd

from radscore.catalog import MODEL_TITLES
from radscore.config import ScanSettings
from radscore.errors import ImageError
from radscore.io.dicom_out import ModelResult, source_series, write_dicom_outputs
from radscore.io.scan import ScanRef
from radscore.runtime.files import atomic_write_csv
from radscore.runtime.provenance import Step

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["patient_id", "timepoint", "lesion_id", "status", "reason", "seg", "sr"]


def scan_folder(ref: ScanRef) -> str:
    """``patient_timepoint_lesion`` with characters outside ``[A-Za-z0-9._-]`` replaced by ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{ref.patient_id}_{ref.timepoint}_{ref.lesion_id}")


def model_result(model, radscore: float, features: dict) -> ModelResult:
    """A :class:`ModelResult` of a loaded model (:class:`~radscore.modeling.artifact.LoadedModel`)."""
    return ModelResult(name=model.name, title=MODEL_TITLES.get(model.name, model.name), version=model.content_hash,
                       radscore=float(radscore), features={f: features.get(f) for f in model.features})


def export_dicom(refs: list[ScanRef], settings: ScanSettings, results: dict[str, list[ModelResult]],
                 out_dir: str | Path) -> pd.DataFrame:
    """Write the SEG and SR of every DICOM-sourced scan; list every scan in ``out_dir/index.csv``.

    Parameters
    ----------
    refs : list of ScanRef
    settings : ScanSettings
        The settings the features were extracted with (the study's, or the model's).
    results : dict
        ``ScanRef.key`` -> the models' results for that scan (none: the SEG alone is written).
    out_dir : path

    Returns
    -------
    DataFrame
        :data:`INDEX_COLUMNS`; ``status`` is ``written``, ``skipped`` (not DICOM-sourced) or
        ``failed`` (the reason names the problem).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for ref in refs:
        # only the images the study uses, as prepare_scan reads them
        used = replace(ref, **{m: None for m in ("pet", "ct") if m not in settings.modalities})
        row = {"patient_id": ref.patient_id, "timepoint": ref.timepoint, "lesion_id": ref.lesion_id,
               "status": "written", "reason": "", "seg": "", "sr": ""}
        try:
            source = source_series(used.ct, used.pet, patient=ref.patient_id)
            if isinstance(source, str):
                row.update(status="skipped", reason=source)
                rows.append(row)
                continue
            from radscore.imaging.preprocess import prepare_scan

            prepared = prepare_scan(used, settings)
            grid = next(iter(prepared.images.values()))
            seg, sr = write_dicom_outputs(prepared.vois, grid, source, results.get(ref.key, []),
                                          out_dir / scan_folder(ref), voi_settings={"core_mm": settings.voi.core_mm,
                                                                                    "ring_mm": settings.voi.ring_mm},
                                          modalities=tuple(settings.modalities))
            row.update(seg=str(seg.relative_to(out_dir)), sr=str(sr.relative_to(out_dir)) if sr else "",
                       reason=source.note or "")
        except (ImageError, ValueError) as exc:
            row.update(status="failed", reason=str(exc))
        rows.append(row)
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    atomic_write_csv(out_dir / "index.csv", index)
    counts = index["status"].value_counts().to_dict()
    log.info("DICOM outputs in %s: %d written, %d skipped (not DICOM-sourced), %d failed (see index.csv)", out_dir,
             counts.get("written", 0), counts.get("skipped", 0), counts.get("failed", 0))
    return index


def export_study(study, refs: list[ScanRef], scores: pd.DataFrame, features: pd.DataFrame) -> Step:
    """``radscore run``'s DICOM outputs: every scan with the Radscores of ``scores.csv`` and the
    models' input features (from the feature table, with the deep features when a model uses them).

    Returns
    -------
    Step
        ``dicom_outputs``: counts by status and the folder.
    """
    from radscore.modeling.artifact import load_model

    ident = ["patient_id", "timepoint", "lesion_id"]
    keyed = features.assign(_key=features[ident].astype(str).agg("/".join, axis=1)).set_index("_key")
    results: dict[str, list[ModelResult]] = {}
    for name in pd.unique(scores["model"]):
        model = load_model(study.models_dir / str(name))
        rows = scores[scores["model"] == name]
        for r in rows.to_dict("records"):
            key = f"{r['patient_id']}/{r['timepoint']}/{r['lesion_id']}"
            if key not in keyed.index or not pd.notna(r["radscore"]):
                continue
            values = keyed.loc[key, [f for f in model.features if f in keyed.columns]].to_dict()
            results.setdefault(key, []).append(model_result(model, r["radscore"], values))
    index = export_dicom(refs, study.config.scan, results, study.dicom_dir)
    return Step("dicom_outputs", settings={"dicom": True}, result={
        "folder": study.dicom_dir.name, **{s: int((index["status"] == s).sum()) for s in ("written", "skipped", "failed")}})
