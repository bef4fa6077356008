"""Write a simulated study folder: images, manifest, tables and ``study.yaml``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radscore.config import StudyConfig, TablesSettings, dump_config
from radscore.runtime.files import atomic_write_csv, atomic_write_text
from radscore.runtime.progress import progress
from radscore.simulate.cohort import simulate_cohort
from radscore.simulate.phantom import make_images

CLINICAL_COLUMNS = ["age", "sex", "bmi", "albumin", "ldh", "cea", "cyfra21_1", "nse", "ecog", "smoking",
                    "histology", "stage", "treatment", "tps"]


def _write(img: sitk.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.nii.gz")
    sitk.WriteImage(img, str(tmp), useCompression=True)
    tmp.replace(path)


def write_study(out: str | Path, n_patients: int = 100, seed: int = 0) -> Path:
    """Simulate ``n_patients`` and write a runnable study folder at ``out``.

    Returns the path of the written ``study.yaml``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cohort = simulate_cohort(n_patients, seed)
    rows = []
    latent = cohort.latent.set_index("patient_id")
    for k, pid in enumerate(progress(list(latent.index), desc="simulating", unit="patient")):
        lat = latent.loc[pid]
        scans = [("baseline", "1", "primary", float(lat.z), 1.0)]
        if lat.second_site:
            scans.append(("baseline", "2", str(lat.second_site), float(lat.z), 0.8))
        if lat.has_followup:
            scans.append(("followup", "1", "primary", float(lat.z_fu), float(np.clip(1 + 0.1 * lat.z_fu, 0.7, 1.2))))
        for j, (tp, lesion, site, z, scale) in enumerate(scans):
            rng = np.random.default_rng([seed, k, j])
            origin = tuple(rng.uniform(-200, 200, 3).round(2))
            ct, pet, mask, mask2 = make_images(rng, z, site=site, scale=scale, origin_xyz=origin)
            stem = f"{pid}_{tp}_L{lesion}"
            paths = {name: Path("images") / f"{stem}_{name}.nii.gz" for name in ("ct", "pet", "mask", "mask_2")}
            for name, img in zip(paths, (ct, pet, mask, mask2)):
                _write(img, out / paths[name])
            rows.append({"patient_id": pid, "timepoint": tp, "lesion_id": lesion, "site": site,
                         **{name: str(p) for name, p in paths.items()}})
    manifest = pd.DataFrame(rows).merge(cohort.outcomes, on="patient_id", how="left")
    base = manifest["timepoint"] == "baseline"
    for col in ("scan_month", "progression_6m", "pfs_fu_months", "pfs_fu_event"):
        manifest.loc[base, col] = np.nan
    manifest.loc[base, "scan_month"] = 0.0
    atomic_write_csv(out / "manifest.csv", manifest)
    atomic_write_csv(out / "clinical.csv", cohort.clinical)
    atomic_write_csv(out / "expression.csv", cohort.expression.reset_index())
    atomic_write_csv(out / "cells.csv", cohort.cells.reset_index())
    config = StudyConfig(
        name="Simulated NSCLC PET/CT cohort (radscore demo, not clinical evidence)",
        seed=seed,
        clinical=CLINICAL_COLUMNS,
        tables=TablesSettings(clinical="clinical.csv", expression="expression.csv", cells="cells.csv"),
    )
    path = out / "study.yaml"
    atomic_write_text(path, "# Written by `radscore simulate`; edit freely.\n" + dump_config(config))
    return path
