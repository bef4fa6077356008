"""The decision-support app through its HTTP interface (FastAPI TestClient, no browser)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from radscore.cli import main
from radscore.errors import ImageError, ModelFileError
from radscore.web import ServerSettings, create_app
from radscore.web.uploads import check_content, suffix_of, unzip_dicom

pytestmark = pytest.mark.slow


def _post(client, files: dict[str, Path], follow: dict[str, Path] | None = None, **data):
    parts = {k: (p.name, p.read_bytes()) for k, p in files.items()}
    if follow:
        parts.update({f"fu_{k}": (p.name, p.read_bytes()) for k, p in follow.items()})
    return client.post("/api/predict", files=parts, data=data)


@pytest.fixture(scope="module")
def client(small_study):
    app = create_app(small_study / "models" / "comb", ServerSettings(max_upload_mb=2))
    return TestClient(app), None


def test_page_and_info(client, small_study):
    c, _ = client
    page = c.get("/")
    assert page.status_code == 200 and 'id="upload"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere
    for asset in ("/static/app.js", "/static/app.css"):
        assert c.get(asset).status_code == 200
    info = c.get("/api/model").json()
    manifest = json.loads((small_study / "models" / "comb" / "manifest.json").read_text())
    assert info["cutoff"] == manifest["cutoff"] and info["features"] == manifest["selected_features"]
    scores = pd.read_csv(small_study / "scores.csv")
    n = ((scores["model"] == "comb") & (scores["cohort"] == "training") & (scores["timepoint"] == "baseline")).sum()
    assert info["n_training"] == n > 0
    assert c.get("/api/health").json()["status"] == "ok"


def test_prediction_equals_cli_and_uploads_are_deleted(client, small_study, capsys, tmp_path, monkeypatch, scan_files,
                                                       patient_with_followup):
    c, _ = client
    pid = patient_with_followup(small_study)
    files = scan_files(small_study, pid)
    follow = scan_files(small_study, pid, "followup")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the app's upload folders land here
    r = _post(c, files, follow, patient_id=pid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(tmp_path.iterdir()) == []  # uploads deleted after the response
    assert body["kept"] is False  # no keep folder: nothing kept (tests/web/test_limits.py has the rest)
    assert main(["-q", "predict", str(small_study / "models" / "comb"), "--ct", str(files["ct"]), "--pet",
                 str(files["pet"]), "--mask", str(files["mask"]), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    base, fu = body["scans"]
    assert base["radscore"] == cli["radscore"] and base["probability"] == cli["probability"]
    assert base["group"] == cli["group"] and base["warnings"] == cli["warnings"]
    assert fu["timepoint"] == "followup"
    assert body["change"]["delta_radscore"] == pytest.approx(fu["radscore"] - base["radscore"])
    assert set(body["images"]) == {"distribution", "slices", "trajectory"} and len(body["images"]["slices"]) == 2
    assert all(u.startswith("data:image/png;base64,") for u in body["images"]["slices"])
    assert 0.0 <= base["percentile"] <= 1.0


@pytest.mark.parametrize("case, status, expect", [
    ("text", 400, "not a .nii.gz file"),
    ("extension", 400, "unsupported file type"),
    ("missing", 400, "missing baseline upload"),
    ("big", 413, "larger than the limit of 2 MB per file"),
    ("partial_followup", 400, "a follow-up needs PET, CT, tumour mask"),
])
def test_bad_uploads_give_clear_errors(client, small_study, case, status, expect, scan_files):
    c, _ = client
    files = scan_files(small_study, "P0003")
    parts = {k: (p.name, p.read_bytes()) for k, p in files.items()}
    if case == "text":
        parts["ct"] = ("ct.nii.gz", b"this is not an image" * 10)
    elif case == "extension":
        parts["ct"] = ("ct.txt", parts["ct"][1])
    elif case == "missing":
        del parts["pet"]
    elif case == "big":
        parts["ct"] = ("ct.nii", b"\0" * (3 << 20))
    elif case == "partial_followup":
        parts["fu_ct"] = parts["ct"]
    r = c.post("/api/predict", files=parts)
    assert r.status_code == status
    assert expect in r.json()["error"]


def test_loader_error_reaches_the_page(client, small_study, tmp_path, scan_files):
    """Files of the right type that the loaders refuse: their RadscoreError message is shown."""
    import SimpleITK as sitk

    c, _ = client
    files = scan_files(small_study, "P0003")
    pet = sitk.ReadImage(str(files["pet"]), sitk.sitkFloat32)
    arr = sitk.GetArrayFromImage(pet)
    arr[0, 0, :3] = float("nan")
    bad = sitk.GetImageFromArray(arr)
    bad.CopyInformation(pet)
    sitk.WriteImage(bad, str(tmp_path / "pet.nii.gz"))
    mask = sitk.ReadImage(str(files["mask"]))
    empty = sitk.GetImageFromArray(sitk.GetArrayFromImage(mask) * 0)
    empty.CopyInformation(mask)
    sitk.WriteImage(empty, str(tmp_path / "mask.nii.gz"))
    for role, expect in (("pet", "PET image has 3 NaN/infinite voxel(s)"), ("mask", "the tumour mask is empty")):
        parts = {k: (p.name, p.read_bytes()) for k, p in files.items()}
        parts[role] = (f"{role}.nii.gz", (tmp_path / f"{role}.nii.gz").read_bytes())
        r = c.post("/api/predict", files=parts)
        assert r.status_code == 400
        assert expect in r.json()["error"]


def test_type_checks_and_zip_safety(tmp_path):
    assert suffix_of("A.NII.GZ") == ".nii.gz"
    with pytest.raises(ImageError, match="unsupported"):
        suffix_of("scan.dcm")
    assert suffix_of("rs.DCM", "mask") == ".dcm"  # an RTSTRUCT/SEG mask
    f = tmp_path / "x.nrrd"
    f.write_bytes(b"NRRD0004\n")
    check_content(f, ".nrrd", "x.nrrd")
    f.write_bytes(b"\x1f\x8bnot really")
    with pytest.raises(ImageError, match="first bytes"):
        check_content(f, ".nrrd", "x.nrrd")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.dcm", b"x")
    with pytest.raises(ImageError, match="unsafe path"):
        unzip_dicom(evil, tmp_path / "out", "evil.zip", max_bytes=1 << 20)
    assert not (tmp_path / "escape.dcm").exists()
    empty = tmp_path / "plain.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/readme.txt", b"hello")
    empty.write_bytes(buf.getvalue())
    with pytest.raises(ImageError, match="no DICOM"):
        unzip_dicom(empty, tmp_path / "out2", "plain.zip", max_bytes=1 << 20)


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(ModelFileError):
        create_app(tmp_path)


def test_memory_release_starts_no_process(monkeypatch):
    """The heap is trimmed after every request; looking libc up each time ran ``ldconfig -p`` in a fork
    of the whole server (found by tests/web/test_soak.py as a second server-sized process)."""
    import subprocess

    from radscore.web import app

    app._release_memory()  # libc looked up once

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    app._release_memory()
    app._release_memory()
