"""Helpers of the reliability suite: cheap settings, study copies, CLI runs, output hashes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import yaml

from radscore.cli import main

N_PATIENTS = 18
SEED = 5  # 10 vs 8 patients per class: the model stage survives losing any one scan
# A cheap model stage; the expression and cell tables are left out so the TME and
# radiogenomics analyses (which need bigger cohorts) do not run.
CHEAP = {
    "model": {"cv_folds": 3, "grid": {"max_depth": [2], "n_estimators": [30], "learning_rate": [0.1]},
              "models": ["comb"]},
    "features": {"feature_classes": ["firstorder", "glcm"]},
    "robustness": {"icc_source": "off"},  # the ICC re-extraction has its own tests (tests/pipeline)
    "analyses": {"deep": {"enabled": False}},  # the CNN encoder has its own tests (tests/features)
    "tables": {"clinical": "clinical.csv", "expression": None, "cells": None},
}


def patch_config(folder: Path, extra: dict) -> None:
    path = folder / "study.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def copy_study(src: Path, dst: Path, *, with_outputs: bool = True) -> Path:
    """Copy a study; without outputs only its inputs (images, tables, study.yaml) are copied."""
    if with_outputs:
        shutil.copytree(src, dst)
    else:
        keep = {"images", "manifest.csv", "clinical.csv", "expression.csv", "cells.csv", "study.yaml", "dicom"}
        dst.mkdir(parents=True)
        for p in src.iterdir():
            if p.name in keep:
                (shutil.copytree if p.is_dir() else shutil.copy2)(p, dst / p.name)
    return dst


def run_cli(*args: str) -> int:
    return main(["-q", *args])


def file_hashes(folder: Path, patterns=("features.parquet", "scores.csv", "metrics.json", "models/**/*")) -> dict:
    out = {}
    for pattern in patterns:
        for p in sorted(folder.glob(pattern)):
            if p.is_file():
                out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
