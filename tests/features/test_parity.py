"""Parity with PyRadiomics: its own test cases and baselines, and a simulated full-protocol case.

Criterion (issue 4): |ours - PyRadiomics| <= 1e-6 * max(1, |PyRadiomics|) for every feature.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pyrad_oracle as pyrad
import pytest
import SimpleITK as sitk
from featutil import extract_row as extract_features
from featutil import pyradiomics_settings
from scipy import ndimage as ndi

from radscore.catalog import TEXTURE_CLASSES
from radscore.features import engine
from radscore.features.settings import engine_covers
from radscore.features.settings import seed_settings as full_protocol_settings

CASES = ["brain1", "breast1", "lung1"]
CLASSES = ["firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape"]


def _close(ours: float, ref: float) -> bool:
    if np.isnan(ref):
        return bool(np.isnan(ours))
    return abs(ours - ref) <= 1e-6 * max(1.0, abs(ref))


def _baseline(root, column):
    out = {}
    for cls in CLASSES:
        rows = list(csv.reader(open(root / "baseline" / f"baseline_{cls}.csv")))
        if column not in rows[0]:
            continue
        col = rows[0].index(column)
        out.update({r[0]: float(r[col]) for r in rows[1:] if not r[0].startswith("diagnostics") and r[col] != ""})
    return out


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("config", ["", "_FBN"])
def test_pyradiomics_test_cases(reference_dir, case, config):
    root = reference_dir / "pyradiomics"
    column = case + config
    settings = json.loads((root / "baseline" / "baseline_settings_per_column.json").read_text())
    st = dict(settings["glcm"]["columns"][column]["Settings"], additionalInfo=False)
    assert engine_covers(st, {"Original": {}}, None)
    image = sitk.ReadImage(str(root / f"{case}_image.nrrd"))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(root / f"{case}_label.nrrd"), sitk.sitkUInt32)) == 1

    ours = engine.extract_image(image, {"roi": mask}, {"Original": {}}, list(TEXTURE_CLASSES), st)["roi"]
    ours.update(engine.shape_features({"roi": mask}, image.GetSpacing())["roi"])

    live = pyrad.execute(pyrad.make_extractor(st, {"Original": {}}, None), image, mask)
    assert set(live) == set(ours)
    bad = {k: (ours[k], v) for k, v in live.items() if not _close(ours[k], v)}
    assert not bad, f"differs from live PyRadiomics: {bad}"

    base = _baseline(root, column)
    assert len(base) >= 70
    bad = {k: (ours[k], v) for k, v in base.items() if not _close(ours[k], v)}
    # Documented: brain1's mesh-based shape features in the 3.1.0 baseline differ from
    # PyRadiomics 3.1.4 itself (its own tests allow 3 %); ours equals the live 3.1.4 above.
    allowed = {k for k in bad if case == "brain1" and k.startswith("original_shape_")}
    assert set(bad) == allowed, f"differs from PyRadiomics' baseline: {bad}"
    for k in allowed:
        assert abs(ours[k] / base[k] - 1) < 0.03


def _simulated(seed=3, shape=(40, 56, 60)):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    d = np.sqrt(((z - 20) * 2.0) ** 2 + (y - 28.0) ** 2 + (x - 30.0) ** 2)
    ct = ndi.gaussian_filter(rng.normal(0, 40, shape), 1.0) + np.where(d < 11, 40.0, -700.0)
    pet = ndi.gaussian_filter(np.where(d < 11, 5.0, 1.0) + rng.normal(0, 0.3, shape), 1.0).clip(0.01)
    tumor = d + ndi.gaussian_filter(rng.normal(0, 3, shape), 2) < 10
    ring = ndi.binary_dilation(tumor, iterations=3) & ~tumor
    core = ndi.binary_erosion(tumor, iterations=2)
    img_ct = sitk.GetImageFromArray(ct.astype(np.float32))
    img_ct.SetSpacing((1.0, 1.0, 2.0))
    img_pet = sitk.GetImageFromArray(pet)
    img_pet.CopyInformation(img_ct)
    fused = sitk.GetImageFromArray((pet - pet.min()) / np.ptp(pet))
    fused.CopyInformation(img_ct)
    return {"ct": img_ct, "pet": img_pet, "petct": fused}, {
        "tumor": tumor, "core": core, "ring": ring, "tumor_ring": tumor | ring}


def _lbp3d_for_pyradiomics(inputImage, inputMask, **kwargs):  # PyRadiomics' signature
    """``imageoperations.getLBP3DImage`` on current SciPy: PyRadiomics' own needs SciPy functions
    removed in 1.15+ and silently yields nothing, so the oracle's LBP-3D image is
    :func:`radscore.features.lbp3d.lbp3d` (checked against PyRadiomics' algorithm in
    ``test_lbp3d.py``); its features are still PyRadiomics'."""
    from radscore.features.lbp3d import lbp3d

    res = lbp3d(sitk.GetArrayFromImage(inputImage), sitk.GetArrayFromImage(inputMask) == kwargs.get("label", 1),
                levels=int(kwargs.get("lbp3DLevels", 2)), radius=float(kwargs.get("lbp3DIcosphereRadius", 1)),
                subdivisions=int(kwargs.get("lbp3DIcosphereSubdivision", 1)))
    for name, arr in res.items():
        out = sitk.GetImageFromArray(arr)
        out.CopyInformation(inputImage)
        yield out, name, kwargs


@pytest.mark.slow
def test_full_protocol_matches_pyradiomics_on_simulated_patient(monkeypatch):
    """All 3 images x 4 VOIs of the seed protocol (2060 features each) against plain PyRadiomics."""
    import radiomics
    from radiomics import imageoperations
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    from radscore.features.settings import canonical_image_types

    images, vois = _simulated()
    settings = full_protocol_settings()
    ours = extract_features(images, vois, settings, patient="sim")
    assert len(ours) == 3 * 4 * 2060
    monkeypatch.setattr(imageoperations, "getLBP3DImage", _lbp3d_for_pyradiomics)
    radiomics.setVerbosity(40)
    worst, compared = 0.0, 0
    for image_name in ("ct", "pet", "petct"):
        ext = RadiomicsFeatureExtractor(**pyradiomics_settings(image_name, settings))
        ext.disableAllImageTypes()
        ext.enableImageTypes(**canonical_image_types(settings.image_types))
        for voi_name, voi in vois.items():
            mask = sitk.GetImageFromArray(voi.astype(np.uint8))
            mask.CopyInformation(images[image_name])
            live = {k: float(v) for k, v in ext.execute(images[image_name], mask, label=1).items()
                    if not k.startswith("diagnostics_")}
            assert len(live) == 2060, (image_name, voi_name)
            for k, v in live.items():
                o = ours[f"{image_name}_{voi_name}_{k}"]
                assert _close(o, v), (image_name, voi_name, k, o, v)
                compared += 1
                if not np.isnan(v):
                    worst = max(worst, abs(o - v) / max(1.0, abs(v)))
    assert compared == len(ours)
    assert worst <= 1e-6
