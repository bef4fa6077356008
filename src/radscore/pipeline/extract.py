"""Extraction stage: every manifest row's scan -> one row of ``features.parquet``.

The work is :func:`radscore.features.runner.extract_scans` (the runner every entry point
uses); this stage turns the manifest into scan references and the runner's outcome into
the study's tables. A scan that fails becomes a QC row naming the patient, file and
problem; the rest of the cohort carries on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radscore.config import StudyConfig
from radscore.features.runner import Extraction, extract_scans
from radscore.io.scan import ScanRef, scan_refs


def run_extract(config: StudyConfig, manifest: pd.DataFrame, cache_dir: Path, *, workers: int | None = None,
                scheduler: str | None = None, perturbation: str | None = None, refs: list[ScanRef] | None = None,
                crops: bool = False, desc: str = "extracting") -> Extraction:
    """Features of every manifest row (of ``perturbation`` of each mask when given).

    Parameters
    ----------
    refs : list of ScanRef, optional
        The scans to extract (default: every manifest row), e.g. with their second
        segmentation for the ICC.
    crops : bool
        Also cut the deep features' PET/CT crops (when ``analyses.deep`` is enabled).

    Returns
    -------
    Extraction
        ``.table()`` one row per scan that succeeded, ``.qc()`` one row per problem,
        ``.provenance`` per scan, ``.crops()`` when deep features are on.
    """
    deep = config.analyses.deep
    # the deep features' crops are PET and CT cubes: a one-modality study has none
    crop_size = deep.crop_size if crops and deep.enabled and len(config.scan.modalities) == 2 else None
    return extract_scans(refs if refs is not None else scan_refs(manifest), config.scan, cache_dir=cache_dir,
                         workers=workers, scheduler=scheduler, memory_limit_gb=config.runtime.memory_limit_gb,
                         perturbation=perturbation, crop_size=crop_size, desc=desc)
