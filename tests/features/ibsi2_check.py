"""IBSI 2 reference data (``../shared/reference/ibsi2``) and the pass rules, for the IBSI 2 tests.

Pass rules (IBSI 2 reference data README): a phase 1 response map passes when every voxel
is within 1 % of the reference map's intensity range; a phase 2 statistic passes when it
lies within the stated tolerance of the consensus value.

When ``RADSCORE_IBSI2_RESULTS`` names a file, every comparison appends one JSON line
``{"test", "ours", "reference", "tolerance", "pass"}`` to it;
``scripts/ibsi2-compliance-table.py`` turns those lines into the README's table.
"""

from __future__ import annotations

import csv
import json
import os
from functools import cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from reference_data import require_reference

#: a phase 1 map passes when max |ours - reference| <= this fraction of the reference's range
MAP_TOLERANCE = 0.01


def ibsi2_dir() -> Path:
    return require_reference("ibsi2")


@cache
def phantom(name: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    """IBSI 2 digital phantom ``name`` as a float64 ``(z, y, x)`` array and its ``(z, y, x)`` spacing."""
    image = sitk.ReadImage(str(ibsi2_dir() / "digital_phantom" / name / "image" / f"{name}.nii.gz"))
    return sitk.GetArrayFromImage(image).astype(np.float64), tuple(image.GetSpacing()[::-1])


def reference_map(test_id: str) -> np.ndarray:
    """Phase 1 consensus response map of ``test_id`` (e.g. ``"1_a_1"``)."""
    path = ibsi2_dir() / "reference_response_maps" / f"{test_id}-ValidCRM.nii"
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float64)


def map_deviation(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - reference| as a fraction of the reference map's range."""
    return float(np.max(np.abs(ours - reference)) / (reference.max() - reference.min()))


@cache
def phase2_reference() -> dict[tuple[str, str], tuple[float, float]]:
    """(configuration id e.g. ``"2.A"``, statistic tag) -> (consensus value, tolerance).

    Statistics without a consensus (8.B's qcod has an empty value) are left out.
    """
    with open(ibsi2_dir() / "reference_feature_values" / "reference_values.csv") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    return {(r["filter_id"], r["feature_tag"]): (float(r["consensus_value"]), float(r["tolerance"]))
            for r in rows if r["consensus_value"] != ""}


def record(test: str, ours: float, reference: float, tolerance: float, passed: bool) -> None:
    """Append one comparison to ``$RADSCORE_IBSI2_RESULTS`` (when set) for the compliance table."""
    path = os.environ.get("RADSCORE_IBSI2_RESULTS")
    if path:
        row = {"test": test, "ours": ours, "reference": reference, "tolerance": tolerance, "pass": bool(passed)}
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
