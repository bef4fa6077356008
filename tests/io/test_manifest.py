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


def test_durable_benefit_derived_from_recist_and_pfs(tmp_path):
    # PROTOCOL A1: DCB = CR or PR, or SD lasting >= 6 months; NDB otherwise
    cases = [("CR", 2.0, 0), ("PR", 3.0, 0), ("SD", 6.0, 0), ("SD", 5.9, 1), ("PD", 20.0, 1), ("sd ", 7.5, 0)]
    rows = [{**{k: v for k, v in ROW.items() if k != "ndb"}, "patient_id": f"P{i}", "recist": r, "pfs_months": pfs}
            for i, (r, pfs, _) in enumerate(cases)]
    df = read_manifest(_write(tmp_path, rows), outcome="ndb")
    assert df["ndb"].tolist() == [ndb for *_, ndb in cases]
    assert read_manifest(_write(tmp_path, rows), outcome="dcb")["dcb"].tolist() == [1 - n for *_, n in cases]


def test_missing_endpoint_and_unusable_recist_are_named(tmp_path):
    plain = {k: v for k, v in ROW.items() if k != "ndb"}
    with pytest.raises(ManifestError, match="endpoint column 'ndb' is missing"):
        read_manifest(_write(tmp_path, [plain]), outcome="ndb")
    with pytest.raises(ManifestError, match="RECIST SD but no 'pfs_months'"):
        read_manifest(_write(tmp_path, [{**plain, "recist": "SD"}]), outcome="ndb")
    with pytest.raises(ManifestError, match="unknown RECIST"):
        read_manifest(_write(tmp_path, [{**plain, "recist": "MR", "pfs_months": 3}]), outcome="ndb")
