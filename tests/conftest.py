"""Shared fixtures.

Tests that need ``../shared/reference`` (outside reference data, never copied into the
repo) use the ``reference_dir`` fixture: it skips with a stated reason where the folder
is absent (a user's fresh clone) and fails instead when RADSCORE_REQUIRE_REFERENCE=1
(set by ``.ci/run``), so CI can never pass by skipping them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_data import require_reference


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` (skip, or fail under RADSCORE_REQUIRE_REFERENCE=1, when absent)."""
    return require_reference()


SMALL_GRID = {"model": {"cv_folds": 3, "grid": {"max_depth": [2], "n_estimators": [40], "learning_rate": [0.1]}},
              "analyses": {"deep": {"enabled": True, "epochs": 3}}}  # the encoder has its own tests


@pytest.fixture(scope="session")
def small_study(tmp_path_factory):
    """A 30-patient simulated study run with a one-point model grid (built once per session; slow)."""
    import yaml

    from radscore.pipeline.run import run_study
    from radscore.simulate import write_study

    folder = tmp_path_factory.mktemp("small_study")
    write_study(folder, 30, seed=7, protocol="quick")
    path = folder / "study.yaml"
    data = yaml.safe_load(path.read_text())
    for k, v in SMALL_GRID.items():
        data.setdefault(k, {}).update(v)
    path.write_text(yaml.safe_dump(data))
    run_study(folder, workers=2)
    return folder


def _scan_files(study: Path, pid: str, timepoint: str = "baseline") -> dict[str, Path]:
    """The ct/pet/mask files of one scan of a simulated study, from its manifest."""
    import pandas as pd

    man = pd.read_csv(study / "manifest.csv", dtype={"patient_id": str})
    row = man[(man["patient_id"] == pid) & (man["timepoint"] == timepoint)].iloc[0]
    return {k: study / row[k] for k in ("ct", "pet", "mask")}


def _patient_with_followup(study: Path) -> str:
    """The first patient (by ID) of a simulated study who has a follow-up scan."""
    import pandas as pd

    man = pd.read_csv(study / "manifest.csv", dtype={"patient_id": str})
    return sorted(man.loc[man["timepoint"] == "followup", "patient_id"])[0]


@pytest.fixture(scope="session")
def scan_files():
    """``scan_files(study, patient_id, timepoint="baseline")`` -> {"ct", "pet", "mask": path}."""
    return _scan_files


@pytest.fixture(scope="session")
def patient_with_followup():
    """``patient_with_followup(study)`` -> the first patient ID with a follow-up scan."""
    return _patient_with_followup


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("RADSCORE_QUIET", "1")
    monkeypatch.setenv("RADSCORE_STRICT", "1")
