"""Privacy (no DICOM identifier leaves the input folder) and determinism (same inputs and seed,
same bytes), on the shared simulated study."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

from radscore.io.images import load_image, load_pet
from radscore.simulate import write_study
from radscore.simulate.dicom import write_dicom_scan
from reliability_helpers import copy_study, file_hashes, run_cli

N_DICOM = 6


def _identifiers(k: int) -> dict[str, str]:
    # Distinctive strings that occur nowhere else (no word a report or log would contain).
    return {"PatientName": f"Qzxvontrel^Wybrinda{k}", "PatientID": f"MRN7Q{k}48203",
            "PatientBirthDate": f"19{31 + k}0419", "AccessionNumber": f"ACQ{k}9917735"}


def _needles(ids: dict[str, str]) -> list[bytes]:
    name = ids["PatientName"]
    date = ids["PatientBirthDate"]
    variants = [name, name.replace("^", " "), *name.split("^"), ids["PatientID"], date,
                f"{date[:4]}-{date[4:6]}-{date[6:]}", ids["AccessionNumber"]]
    return [v.encode() for v in variants]


def _readable_forms(path: Path) -> list[bytes]:
    """The file's bytes and, for compressed formats, what they decompress to."""
    raw = path.read_bytes()
    forms = [raw]
    if path.suffix == ".gz":
        forms.append(gzip.decompress(raw))
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        forms.append(table.to_pandas().to_csv().encode())
        forms.append(str(table.schema.metadata).encode())
    return forms


@pytest.mark.slow
def test_no_dicom_identifier_in_any_output_log_or_cache(base_study, tmp_path):
    folder = copy_study(base_study, tmp_path / "study")
    man = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    rows = man.index[(man["timepoint"] == "baseline") & (man["lesion_id"] == "1")][:N_DICOM]
    planted = []
    for k, i in enumerate(rows):
        ids = _identifiers(k)
        out = folder / "dicom" / f"scan{k}"
        ct_dir, pet_dir = write_dicom_scan(sitk.ReadImage(str(folder / man.at[i, "ct"])),
                                           sitk.ReadImage(str(folder / man.at[i, "pet"])), out,
                                           identifiers=ids, uid_seed=f"privacy{k}")
        assert pydicom.dcmread(next(pet_dir.glob("*.dcm"))).PatientID == ids["PatientID"]  # really planted
        man.loc[i, ["ct", "pet"]] = [str(ct_dir.relative_to(folder)), str(pet_dir.relative_to(folder))]
        planted += _needles(ids)
    man.to_csv(folder / "manifest.csv", index=False)

    # Debug logging: the most a user could ever see on the terminal.
    proc = subprocess.run([sys.executable, "-m", "radscore", "-v", "run", str(folder), "--workers", "2"],
                          capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    features = pd.read_parquet(folder / "features.parquet")
    assert len(features) == len(man)  # the DICOM scans were used, not excluded

    haystacks = {"<stdout>": [proc.stdout], "<stderr/log>": [proc.stderr]}
    for p in folder.rglob("*"):
        if p.is_file() and "dicom" not in p.relative_to(folder).parts:
            haystacks[str(p.relative_to(folder))] = _readable_forms(p)
    assert any(k.startswith(".radscore/cache") for k in haystacks) and "report.html" in haystacks
    assert any(k.startswith("models/") for k in haystacks)
    # The scanner finds the identifiers where they are (the DICOM inputs), so silence below means absence.
    first_pet = next((folder / "dicom" / "scan0" / "pet").glob("*.dcm"))
    assert all(n in first_pet.read_bytes() for n in _needles(_identifiers(0)) if b"-" not in n and b" " not in n)
    leaks = [(name, needle.decode()) for name, forms in haystacks.items() for needle in planted
             if any(needle in form for form in forms)]
    assert leaks == []


@pytest.mark.slow
def test_two_runs_with_the_same_seed_give_identical_bytes(base_study, tmp_path):
    folder = copy_study(base_study, tmp_path / "study", with_outputs=False)  # inputs only: a full second run
    assert run_cli("run", str(folder), "--workers", "2") == 0
    first, second = file_hashes(base_study), file_hashes(folder)
    assert "features.parquet" in first and "scores.csv" in first and "metrics.json" in first
    assert any(k.startswith("models/") for k in first)
    assert second == first
    assert (folder / "qc.csv").read_bytes() == (base_study / "qc.csv").read_bytes()


def test_simulation_with_the_same_seed_is_byte_identical(tmp_path):
    a, b = (write_study(tmp_path / name, 3, seed=5, protocol="quick").parent for name in ("a", "b"))
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_dicom_export_round_trip_and_determinism(base_study, tmp_path):
    man = pd.read_csv(base_study / "manifest.csv")
    ct = sitk.ReadImage(str(base_study / man.at[0, "ct"]))
    pet = sitk.ReadImage(str(base_study / man.at[0, "pet"]))
    ct_dir, pet_dir = write_dicom_scan(ct, pet, tmp_path / "a", weight_kg=61.0, dose_mbq=287.0, uptake_min=71.0)
    ct2 = load_image(ct_dir, modality="ct")
    pet2 = load_pet(pet_dir)[0]  # SUV from the BQML tags
    assert np.array_equal(sitk.GetArrayFromImage(ct2), sitk.GetArrayFromImage(ct).astype(np.float32))
    assert ct2.GetOrigin() == pytest.approx(ct.GetOrigin()) and ct2.GetSpacing() == pytest.approx(ct.GetSpacing())
    suv, suv2 = sitk.GetArrayFromImage(pet), sitk.GetArrayFromImage(pet2)
    assert np.abs(suv2 - suv).max() <= 1e-4 * suv.max()  # 16-bit storage, per-slice slope
    assert pet2.GetOrigin() == pytest.approx(pet.GetOrigin())
    ds = pydicom.dcmread(next(pet_dir.glob("*.dcm")))
    assert ds.Units == "BQML" and ds.DecayCorrection == "START" and float(ds.PatientWeight) == 61.0
    # same inputs, same bytes (UIDs derived from the seed, no clock)
    ct_b, pet_b = write_dicom_scan(ct, pet, tmp_path / "b", weight_kg=61.0, dose_mbq=287.0, uptake_min=71.0)
    for d1, d2 in ((ct_dir, ct_b), (pet_dir, pet_b)):
        assert [p.read_bytes() for p in sorted(d1.iterdir())] == [p.read_bytes() for p in sorted(d2.iterdir())]
