"""Write a simulated study folder: images, manifest, tables and ``study.yaml``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radscore.config import (PROTOCOLS, AnalysesSettings, DeepFeatureSettings, StudyConfig, TablesSettings,
                             dump_config)
from radscore.runtime.executor import run_tasks
from radscore.runtime.files import atomic_write_csv, atomic_write_text
from radscore.runtime.progress import progress
from radscore.simulate.cohort import simulate_cohort
from radscore.simulate.phantom import EXTERNAL_SITES, REFERENCE, make_images

CLINICAL_COLUMNS = ["age", "sex", "bmi", "albumin", "ldh", "cea", "cyfra21_1", "nse", "ecog", "smoking",
                    "histology", "stage", "treatment", "tps"]


def _write(img: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.nii.gz")
    sitk.WriteImage(img, str(tmp), useCompression=True)
    tmp.replace(path)


def _patient_scans(task: tuple) -> list[dict]:
    """Write one patient's scans (runs in a worker process); returns their manifest rows."""
    out, seed, k, pid, z, z_fu, has_fu, second_site, external, second_reader = task
    # the external cohort's patients come from its sites in turn
    scanner = EXTERNAL_SITES[k % len(EXTERNAL_SITES)] if external else REFERENCE
    scans = [("baseline", "1", "primary", z, 1.0)]
    if second_site:
        scans.append(("baseline", "2", second_site, z, 0.8))
    if has_fu:
        scans.append(("followup", "1", "primary", z_fu, float(np.clip(1 + 0.1 * z_fu, 0.7, 1.2))))
    rows = []
    for j, (tp, lesion, site, zz, scale) in enumerate(scans):
        # Seeded per patient and scan, so the images do not depend on worker scheduling.
        rng = np.random.default_rng([seed, k, j])
        origin = tuple(rng.uniform(-200, 200, 3).round(2))
        ct, pet, mask, mask2 = make_images(rng, zz, site=site, scale=scale, origin_xyz=origin, scanner=scanner)
        stem = f"{pid}_{tp}_L{lesion}"
        # the second reader segments the baseline scans of some patients only, as in practice
        names = ("ct", "pet", "mask", "mask_2") if second_reader and tp == "baseline" else ("ct", "pet", "mask")
        paths = {name: Path("images") / f"{stem}_{name}.nii.gz" for name in names}
        for name, img in zip(paths, (ct, pet, mask, mask2)):
            _write(img, Path(out) / paths[name])
        rows.append({"patient_id": pid, "timepoint": tp, "lesion_id": lesion, "site": site, "scanner": scanner.name,
                     **{name: str(p) for name, p in paths.items()}})
    return rows


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
    reread = set(np.random.default_rng([seed, 2]).permutation(n_patients)[:second_reader].tolist())
    tasks = [(str(out), seed, k, r.patient_id, float(r.z), float(r.z_fu), bool(r.has_followup), str(r.second_site),
              k >= n_patients, k in reread) for k, r in enumerate(cohort.latent.itertuples(index=False))]
    per_patient: list[list[dict]] = [[] for _ in tasks]
    bar = progress(total=len(tasks), desc="simulating", unit="patient")
    for res in run_tasks(_patient_scans, tasks, workers=workers):
        if res.error is not None:
            raise res.error
        per_patient[res.index] = res.value
        bar.update(1)
    bar.close()
    rows = [row for patient_rows in per_patient for row in patient_rows]
    manifest = pd.DataFrame(rows).merge(cohort.outcomes, on="patient_id", how="left")
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
        analyses=AnalysesSettings(deep=DeepFeatureSettings(enabled=True)),
    )
    path = out / "study.yaml"
    atomic_write_text(path, "# Written by `radscore simulate`; edit freely.\n" + dump_config(config))
    return path
