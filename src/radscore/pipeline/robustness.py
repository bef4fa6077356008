"""Robustness stage: ICC of every feature between repeated segmentations, training patients only.

The repeated segmentation is the manifest's ``mask_2`` (a second reader) when present,
otherwise the tumour mask perturbed (``robustness.perturbations``: dilated and eroded by one
voxel and a seeded random contour deformation, PROTOCOL A6). The repeats are
extracted by the same runner as the main table (so on the same workers or Dask cluster);
features whose ICC is below ``robustness.icc_threshold`` are left out of every Radscore.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radscore.config import RobustnessSettings, StudyConfig
from radscore.io.scan import ID_COLUMNS, scan_refs
from radscore.modeling.icc import icc_filter
from radscore.modeling.patients import patient_rows
from radscore.pipeline.extract import run_extract
from radscore.report.sections import Section
from radscore.runtime.provenance import Step

log = logging.getLogger(__name__)

TITLE = "Feature robustness (ICC between segmentations)"
ICC_NAMES = {"icc2": "ICC(2,1), two-way random, absolute agreement", "icc3": "ICC(3,1), two-way mixed, consistency"}


@dataclass(frozen=True)
class RobustnessResult:
    """The ICC step's outcome.

    Attributes
    ----------
    kept : tuple of str or None
        Features with ICC >= threshold (None: the step did not run, every feature is kept).
    summary : DataFrame or None
        Per feature: feature, icc, kept.
    source : str
        ``mask_2``, ``perturbation`` or ``off``.
    n_patients : int
    skipped : str or None
        Why the step did not run.
    """

    settings: RobustnessSettings
    kept: tuple[str, ...] | None
    summary: pd.DataFrame | None
    source: str
    n_patients: int = 0
    skipped: str | None = None

    @property
    def step(self) -> Step:
        return Step("robustness", settings=self.settings.model_dump(mode="json"),
                    result={"source": self.source, "n_patients": self.n_patients, "skipped": self.skipped,
                            "n_features": None if self.summary is None else len(self.summary),
                            "n_kept": None if self.kept is None else len(self.kept)})

    def section(self) -> Section:
        if self.skipped is not None:
            return Section(key="robustness", title=TITLE, skipped=self.skipped)
        s = self.settings
        names = {"dilate_1": "dilated by one voxel", "erode_1": "eroded by one voxel",
                 "random_0": "randomly deformed (smooth contour displacement, SD 1 mm over ~4 mm patches)"}
        what = ("the second segmentation (manifest column mask_2)" if self.source == "mask_2"
                else "the tumour mask " + ", ".join(names[p] for p in s.perturbations))
        summary = self.summary.assign(family=self.summary["feature"].str.extract(
            r"^((?:petct|pet|ct)_(?:tumor_ring|tumor|core|ring))_", expand=False))
        by_family = (summary.groupby("family")["kept"].agg(["size", "sum"])
                     .rename(columns={"size": "features", "sum": "kept"}).reset_index())
        text = (f"ICC ({ICC_NAMES[s.icc_type]}) of each feature between the original segmentation and {what}, on "
                f"{self.n_patients} training patients; {len(self.kept)} of {len(self.summary)} features have ICC >= "
                f"{s.icc_threshold} and enter selection. Testing patients are not used.")
        partial = self.summary[self.summary["n"] < self.summary["n"].max()] if "n" in self.summary else []
        if len(partial):
            text += (f" {len(partial)} features are missing for some patients (e.g. undefined on a small VOI); their "
                     f"ICC is computed on the patients that have them (n from {int(partial['n'].min())}, listed "
                     "below).")
        tables = {"ICC by image and VOI": by_family}
        if len(partial):
            tables["ICC of features missing for some patients"] = partial.reset_index(drop=True)
        return Section(key="robustness", title=TITLE, text=text, tables=tables)


def _source(settings: RobustnessSettings, manifest: pd.DataFrame) -> str:
    if settings.icc_source != "auto":
        return settings.icc_source
    has_second = "mask_2" in manifest.columns and manifest["mask_2"].notna().any()
    return "mask_2" if has_second else "perturbation"


def _by_patient(features: pd.DataFrame) -> pd.DataFrame:
    base = patient_rows(features)
    return base.set_index("patient_id").drop(columns=[c for c in ID_COLUMNS if c != "patient_id"])


def run_robustness(config: StudyConfig, manifest: pd.DataFrame, features: pd.DataFrame, cohorts: pd.Series,
                   cache_dir: Path, *, workers: int | None = None, scheduler: str | None = None) -> RobustnessResult:
    """Features robust to segmentation (ICC >= threshold on training patients)."""
    settings = config.robustness
    source = _source(settings, manifest)
    if source == "off" or features.empty:
        return RobustnessResult(settings, None, None, source, skipped="ICC step off (robustness.icc_source: off)")
    training = set(cohorts.index[cohorts == "training"])
    rows = manifest[(manifest["timepoint"] == "baseline") & manifest["patient_id"].isin(training)]
    rows = rows[rows.set_index(["patient_id", "lesion_id"]).index.isin(
        patient_rows(features).set_index(["patient_id", "lesion_id"]).index)]
    tables = [_by_patient(features[features["patient_id"].isin(training)])]
    if source == "mask_2":
        second = rows[rows["mask_2"].notna()]
        refs = [r.with_mask(m) for r, m in zip(scan_refs(second), second["mask_2"])]
        repeats = [run_extract(config, second, cache_dir, workers=workers, scheduler=scheduler, refs=refs,
                               desc="extracting (mask_2)")]
    else:
        repeats = [run_extract(config, rows, cache_dir, workers=workers, scheduler=scheduler, perturbation=p,
                               desc=f"extracting ({p})") for p in settings.perturbations]
    tables += [_by_patient(t) for t in (r.table() for r in repeats) if not t.empty]
    if len(tables) < 2 or min(len(t) for t in tables) < 3:
        return RobustnessResult(settings, None, None, source,
                                skipped="fewer than 3 training patients have a repeated segmentation")
    result = icc_filter(tables, threshold=settings.icc_threshold, kind=settings.icc_type, patients=sorted(training))
    return RobustnessResult(settings, tuple(result.kept), result.summary, source, n_patients=len(tables[1]))
