"""Robustness stage: ICC of every feature between repeated segmentations, training patients only.

The repeated segmentation is the manifest's ``mask_2`` (a second reader) when present,
otherwise the tumour mask dilated and eroded by one voxel (PROTOCOL A6). Features whose
ICC is below ``selection.icc_threshold`` are left out of every Radscore model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from radscore.config import StudyConfig
from radscore.pipeline.extract import ID_COLUMNS, run_extract
from radscore.pipeline.model import patient_level
from radscore.report.sections import Section

log = logging.getLogger(__name__)

PERTURBATIONS = ("dilate_1", "erode_1")


def _source(config: StudyConfig, manifest: pd.DataFrame) -> str:
    src = config.selection.icc_source
    if src != "auto":
        return src
    has_second = "mask_2" in manifest.columns and manifest["mask_2"].notna().any()
    return "mask_2" if has_second else "perturbation"


def _by_patient(features: pd.DataFrame) -> pd.DataFrame:
    base = patient_level(features)
    return base.set_index("patient_id").drop(columns=[c for c in ID_COLUMNS if c != "patient_id"])


def run_robustness(config: StudyConfig, manifest: pd.DataFrame, features: pd.DataFrame, cohorts: pd.Series,
                   cache_dir: Path, *, workers: int | None = None,
                   scheduler: str | None = None) -> tuple[list[str] | None, Section]:
    """Features robust to segmentation (ICC >= threshold on training patients), and the report section.

    Returns ``(None, section)`` when the ICC step is off.
    """
    from radscore.modeling.icc import IccFilter

    sel = config.selection
    title = "Feature robustness (ICC between segmentations)"
    source = _source(config, manifest)
    if source == "off" or features.empty:
        return None, Section(key="robustness", title=title, skipped="ICC step off (selection.icc_source: off)")
    training = set(cohorts.index[cohorts == "training"])
    rows = manifest[(manifest["timepoint"] == "baseline") & manifest["patient_id"].isin(training)]
    rows = rows[rows.set_index(["patient_id", "lesion_id"]).index.isin(
        patient_level(features).set_index(["patient_id", "lesion_id"]).index)]
    tables = [_by_patient(features[features["patient_id"].isin(training)])]
    if source == "mask_2":
        second = rows[rows["mask_2"].notna()].assign(mask=lambda d: d["mask_2"], mask_roi=None)
        repeats = [run_extract(config, second, cache_dir, workers=workers, scheduler=scheduler,
                               desc="extracting (mask_2)")[0]]
        what = "the second segmentation (manifest column mask_2)"
    else:
        repeats = [run_extract(config, rows, cache_dir, workers=workers, scheduler=scheduler, perturbation=p,
                               desc=f"extracting ({p})")[0] for p in PERTURBATIONS]
        what = "the tumour mask dilated and eroded by one voxel"
    tables += [_by_patient(t) for t in repeats if not t.empty]
    if len(tables) < 2 or min(len(t) for t in tables) < 3:
        return None, Section(key="robustness", title=title,
                             skipped="fewer than 3 training patients have a repeated segmentation")
    filt = IccFilter(threshold=sel.icc_threshold, kind=sel.icc_type).fit(tables, patients=sorted(training))
    summary = filt.summary
    summary["family"] = summary["feature"].str.extract(r"^((?:petct|pet|ct)_(?:tumor_ring|tumor|core|ring))_",
                                                      expand=False)
    by_family = (summary.groupby("family")["kept"].agg(["size", "sum"])
                 .rename(columns={"size": "features", "sum": "kept"}).reset_index())
    n_pat = len(tables[1])
    text = (f"ICC ({'ICC(2,1), two-way random, absolute agreement' if sel.icc_type == 'icc2' else 'ICC(3,1), two-way mixed, consistency'}) "
            f"of each feature between the original segmentation and {what}, on {n_pat} training patients; "
            f"{len(filt.kept_features_)} of {len(summary)} features have ICC >= {sel.icc_threshold} and enter "
            "selection. Testing patients are not used.")
    return filt.kept_features_, Section(key="robustness", title=title, text=text,
                                        tables={"ICC by image and VOI": by_family})
