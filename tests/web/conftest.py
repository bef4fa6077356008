"""A small trained study for the page's tests (built once per session; slow)."""

from __future__ import annotations

import pytest
import yaml

from radscore.pipeline.run import run_study
from radscore.simulate import write_study

SMALL_GRID = {"model": {"cv_folds": 3, "grid": {"max_depth": [2], "n_estimators": [40], "learning_rate": [0.1]}}}


def build_small_study(folder, patients: int = 30, seed: int = 7):
    """Simulate and run a study with a one-point model grid; returns the folder."""
    write_study(folder, patients, seed=seed)
    path = folder / "study.yaml"
    data = yaml.safe_load(path.read_text())
    for k, v in SMALL_GRID.items():
        data.setdefault(k, {}).update(v)
    path.write_text(yaml.safe_dump(data))
    run_study(folder, workers=2)
    return folder


@pytest.fixture(scope="session")
def small_study(tmp_path_factory):
    return build_small_study(tmp_path_factory.mktemp("web_study"))
