"""Shared fixtures.

Tests that need ``../shared/reference`` (outside reference data, never copied into the
repo) use the ``reference_dir`` fixture: it skips with a stated reason where the folder
is absent (a user's fresh clone) and fails instead when RADSCORE_REQUIRE_REFERENCE=1
(set by ``.ci/run``), so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("RADSCORE_REFERENCE_DIR", REPO.parent / "shared" / "reference"))


def require_reference(sub: str = "") -> Path:
    path = REFERENCE / sub if sub else REFERENCE
    if not path.exists():
        reason = f"reference data not found at {path} (clone the shared/ folder beside the repo)"
        if os.environ.get("RADSCORE_REQUIRE_REFERENCE") == "1":
            pytest.fail(reason + "; RADSCORE_REQUIRE_REFERENCE=1 forbids skipping")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` (skip, or fail under RADSCORE_REQUIRE_REFERENCE=1, when absent)."""
    return require_reference()


SMALL_GRID = {"model": {"cv_folds": 3, "grid": {"max_depth": [2], "n_estimators": [40], "learning_rate": [0.1]}}}


@pytest.fixture(scope="session")
def small_study(tmp_path_factory):
    """A 30-patient simulated study run with a one-point model grid (built once per session; slow)."""
    import yaml

    from radscore.pipeline.run import run_study
    from radscore.simulate import write_study

    folder = tmp_path_factory.mktemp("small_study")
    write_study(folder, 30, seed=7)
    path = folder / "study.yaml"
    data = yaml.safe_load(path.read_text())
    for k, v in SMALL_GRID.items():
        data.setdefault(k, {}).update(v)
    path.write_text(yaml.safe_dump(data))
    run_study(folder, workers=2)
    return folder


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("RADSCORE_QUIET", "1")
