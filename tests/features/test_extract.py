"""One scan through the runner: naming, VOI handling, errors, settings fingerprint."""

from __future__ import annotations

import numpy as np
import pyrad_oracle as pyrad
import pytest
import SimpleITK as sitk
from featutil import extract_row as extract_features
from featutil import pyradiomics_settings

from radscore.config import FeatureSettings
from radscore.errors import ImageError
from radscore.features.settings import settings_fingerprint


def _case(seed=0, shape=(24, 32, 32)):
    rng = np.random.default_rng(seed)
    ct = rng.normal(0, 60, shape)
    pet = np.abs(rng.normal(2, 1, shape))
    img_ct = sitk.GetImageFromArray(ct)
    img_ct.SetSpacing((0.9, 0.9, 2.0))
    img_pet = sitk.GetImageFromArray(pet)
    img_pet.CopyInformation(img_ct)
    tumor = np.zeros(shape, bool)
    tumor[8:16, 10:22, 9:20] = True
    ring = np.zeros(shape, bool)
    ring[6:18, 8:24, 7:22] = True
    ring &= ~tumor
    return {"ct": img_ct, "pet": img_pet}, {"tumor": tumor, "ring": ring}


def test_columns_are_prefixed_pyradiomics_names_and_match_it():
    images, vois = _case()
    settings = FeatureSettings(image_types={"original": {}, "LoG": {"sigma": [2.0]}})
    row = extract_features(images, vois, settings, patient="p1")
    ext = pyrad.make_extractor(pyradiomics_settings("pet", settings), settings.image_types, None)
    ref = pyrad.execute(ext, images["pet"], vois["ring"])
    assert "pet_ring_original_glcm_Contrast" in row
    assert "ct_tumor_log-sigma-2-0-mm-3D_firstorder_Mean" in row
    assert not any("diagnostics" in k for k in row)
    for name, value in ref.items():
        assert row[f"pet_ring_{name}"] == pytest.approx(value, rel=1e-6, abs=1e-6)
    # 2 images x 2 VOIs x (14 shape + 93 x 2 image types)
    assert len(row) == 2 * 2 * (14 + 93 * 2)


def test_absent_voi_is_skipped_and_empty_voi_is_an_image_error():
    images, vois = _case()
    row = extract_features({"ct": images["ct"]}, {"tumor": vois["tumor"]}, FeatureSettings())
    assert all(k.startswith("ct_tumor_") for k in row)
    with pytest.raises(ImageError, match="empty"):
        extract_features(images, {"core": np.zeros_like(vois["tumor"])}, FeatureSettings(), patient="p9")


def test_wrong_grid_is_an_image_error():
    images, vois = _case()
    with pytest.raises(ImageError, match="shape"):
        extract_features(images, {"tumor": vois["tumor"][:-1]}, FeatureSettings())


def test_fingerprint_changes_with_value_changing_settings_only():
    a = settings_fingerprint(FeatureSettings())
    assert a == settings_fingerprint(FeatureSettings())
    assert a != settings_fingerprint(FeatureSettings(bin_width_ct=10.0))
    assert a != settings_fingerprint(FeatureSettings(image_types={"original": {}, "square": {}}))


def test_settings_choose_images_and_vois_and_reject_unknown_filters():
    images, vois = _case()
    row = extract_features(images, vois, FeatureSettings(images=["pet"], vois=["ring"]))
    assert row and all(k.startswith("pet_ring_") for k in row)
    from radscore.errors import ConfigError

    with pytest.raises(ConfigError, match="LBP2D"):
        extract_features(images, vois, FeatureSettings(image_types={"LBP2D": {}}))
