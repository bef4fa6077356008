import pandas as pd
import pytest

from radscore.errors import ManifestError
from radscore.io.manifest import read_manifest

ROW = {"patient_id": "P1", "timepoint": "baseline", "ct": "ct.nii.gz", "pet": "pet.nii.gz", "mask": "m.nii.gz", "ndb": 1}


def _write(tmp_path, rows):
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_paths_are_resolved_relative_to_manifest(tmp_path):
    df = read_manifest(_write(tmp_path, [ROW, {**ROW, "patient_id": "P2", "ndb": 0}]), outcome="ndb")
    assert df.loc[0, "ct"] == str(tmp_path / "ct.nii.gz")
    assert list(df["lesion_id"]) == ["1", "1"]


def test_duplicate_ids_named(tmp_path):
    with pytest.raises(ManifestError, match="P1"):
        read_manifest(_write(tmp_path, [ROW, ROW]))


def test_missing_columns_listed(tmp_path):
    row = {k: v for k, v in ROW.items() if k != "mask"}
    with pytest.raises(ManifestError, match="mask"):
        read_manifest(_write(tmp_path, [row]))


def test_unknown_timepoint(tmp_path):
    with pytest.raises(ManifestError, match="week6"):
        read_manifest(_write(tmp_path, [{**ROW, "timepoint": "week6"}]))


def test_outcome_outside_0_1_names_patient(tmp_path):
    with pytest.raises(ManifestError, match="P2"):
        read_manifest(_write(tmp_path, [ROW, {**ROW, "patient_id": "P2", "ndb": 2}]), outcome="ndb")


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "manifest.csv")
