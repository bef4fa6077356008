"""Write a simulated study folder: images, manifest, tables and ``study.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radscore.config import (PROTOCOLS, StudyConfig, TablesSettings, dump_config)
from radscore.runtime.executor import map_tasks
from radscore.runtime.files import atomic_write_csv, atomic_write_text
from radscore.simulate.cohort import simulate_cohort
from radscore.simulate.phantom import EXTERNAL_SITES, REFERENCE, Scanner, make_images

CLINICAL_COLUMNS = ["age", "sex", "bmi", "albumin", "ldh", "cea", "cyfra21_1", "nse", "ecog", "smoking",
                    "histology", "stage", "treatment", "tps"]


def _write(img: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.nii.gz")
    sitk.WriteImage(img, str(tmp), useCompression=True)
    tmp.replace(path)


@dataclass(frozen=True)
class Scan:
    """One simulated scan: where it sits in the manifest and the immune state it shows."""

    timepoint: str
    lesion_id: str
    site: str  # "primary" (lung) or a metastatic site (phantom.make_images)
    z: float  # immune state at the time of the scan
    scale: float = 1.0  # tumour size multiplier


@dataclass(frozen=True)
class PatientScans:
    """The scans of one patient, written by one worker call (picklable)."""

    out: str
    seed: int
    index: int  # the patient's position in the study: seeds its images
    patient_id: str
    scans: tuple[Scan, ...]
    scanner: Scanner = REFERENCE
    second_reader: bool = False  # a second segmentation (mask_2) of the baseline scans


def _patient_scans(task: PatientScans) -> list[dict]:
    """Write one patient's scans (runs in a worker process); returns their manifest rows."""
    rows = []
    for j, scan in enumerate(task.scans):
        # Seeded per patient and scan, so the images do not depend on worker scheduling.
        rng = np.random.default_rng([task.seed, task.index, j])
        origin = tuple(rng.uniform(-200, 200, 3).round(2))
        ct, pet, mask, mask2 = make_images(rng, scan.z, site=scan.site, scale=scan.scale, origin_xyz=origin,
                                           scanner=task.scanner)
        stem = f"{task.patient_id}_{scan.timepoint}_L{scan.lesion_id}"
        # the second reader segments the baseline scans of some patients only, as in practice
        reread = task.second_reader and scan.timepoint == "baseline"
        names = ("ct", "pet", "mask", "mask_2") if reread else ("ct", "pet", "mask")
        paths = {name: Path("images") / f"{stem}_{name}.nii.gz" for name in names}
        for name, img in zip(paths, (ct, pet, mask, mask2)):
            _write(img, Path(task.out) / paths[name])
        rows.append({"patient_id": task.patient_id, "timepoint": scan.timepoint, "lesion_id": scan.lesion_id,
                     "site": scan.site, "scanner": task.scanner.name, **{name: str(p) for name, p in paths.items()}})
    return rows


def write_scans(tasks: list[PatientScans], workers: int | None = None) -> pd.DataFrame:
    """Write every patient's images in parallel; the manifest rows in the order of ``tasks``."""
    per_patient = map_tasks(_patient_scans, tasks, workers=workers, desc="simulating", unit="patient")
    return pd.DataFrame([row for patient_rows in per_patient for row in patient_rows])


def second_reader_patients(seed: int, n_patients: int, n_reread: int) -> set[int]:
    """Positions (``0 .. n_patients - 1``) of the ``n_reread`` patients a second reader segments (seeded)."""
    return set(np.random.default_rng([seed, 2]).permutation(n_patients)[:n_reread].tolist())


def write_study(out: str | Path, n_patients: int = 100, seed: int = 0, *, workers: int | None = None,
                protocol: str = PROTOCOLS[0], external: int = 0, second_reader: int = 30) -> Path:
    """Simulate ``n_patients`` and write a runnable study folder at ``out``.

    ``second_reader`` patients (seeded, among the ``n_patients``; all when fewer) get a second
    segmentation of their baseline scans (manifest ``mask_2``), from which the ICC is computed
    on those in training: a re-segmented subset, as radiomics studies do.

    ``protocol`` is the preset written into ``study.yaml`` (default: the seed's protocol).
    ``external`` adds that many patients acquired on another scanner
    (:data:`~radscore.simulate.phantom.EXTERNAL_SITES`, in turn) as the cohort ``external``; the manifest
    then names every patient's cohort (the others split 7:3 here, seeded, as ``radscore
    run`` would).

    Returns the path of the written ``study.yaml``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cohort = simulate_cohort(n_patients + external, seed)
    reread = second_reader_patients(seed, n_patients, second_reader)
    tasks = []
    for k, r in enumerate(cohort.latent.itertuples(index=False)):
        scans = [Scan("baseline", "1", "primary", float(r.z))]
        if r.second_site:
            scans.append(Scan("baseline", "2", str(r.second_site), float(r.z), 0.8))
        if r.has_followup:
            scans.append(Scan("followup", "1", "primary", float(r.z_fu), float(np.clip(1 + 0.1 * r.z_fu, 0.7, 1.2))))
        # the external cohort's patients come from its sites in turn
        scanner = EXTERNAL_SITES[k % len(EXTERNAL_SITES)] if k >= n_patients else REFERENCE
        tasks.append(PatientScans(str(out), seed, k, r.patient_id, tuple(scans), scanner, k in reread))
    scans_table = write_scans(tasks, workers)
    manifest = scans_table.merge(cohort.outcomes, on="patient_id", how="left")
    base = manifest["timepoint"] == "baseline"
    for col in ("scan_month", "progression_6m", "pfs_fu_months", "pfs_fu_event"):
        manifest.loc[base, col] = np.nan
    manifest.loc[base, "scan_month"] = 0.0
    if external:
        from radscore.modeling.split import split_cohort

        ids = cohort.latent["patient_id"]
        internal = cohort.outcomes[cohort.outcomes["patient_id"].isin(ids[:n_patients])]
        split = split_cohort(internal[["patient_id", "ndb"]], "ndb", 0.3, seed, True)
        manifest["cohort"] = manifest["patient_id"].map(split).fillna("external")
    atomic_write_csv(out / "manifest.csv", manifest)
    atomic_write_csv(out / "clinical.csv", cohort.clinical)
    atomic_write_csv(out / "expression.csv", cohort.expression.reset_index())
    atomic_write_csv(out / "cells.csv", cohort.cells.reset_index())
    config = StudyConfig(
        protocol=protocol,
        name="Simulated NSCLC PET/CT cohort (radscore demo, not clinical evidence)",
        seed=seed,
        clinical=CLINICAL_COLUMNS,
        tables=TablesSettings(clinical="clinical.csv", expression="expression.csv", cells="cells.csv"),
    )
    path = out / "study.yaml"
    atomic_write_text(path, "# Written by `radscore simulate`; edit freely.\n" + dump_config(config))
    return path
