"""Deep features: cropping (no torch needed), then the autoencoder (skipped without PyTorch)."""

import sys

import numpy as np
import pandas as pd
import pytest

from radscore.config import DeepFeatureSettings
from radscore.errors import DataError, ModelFileError
from radscore.features.deep import add_deep_features, crop_around_mask, normalise_crop


def test_crop_is_centred_on_the_mask_bounding_box():
    img = np.arange(20 * 20 * 20, dtype=float).reshape(20, 20, 20)
    mask = np.zeros_like(img)
    mask[8:13, 4:7, 10:11] = 1  # bbox centre (10, 5, 10)
    c = crop_around_mask(img, mask, 4)
    assert c.shape == (4, 4, 4)
    # the cube spans centre-2 .. centre+1 on each axis
    assert c[2, 2, 2] == img[10, 5, 10]
    assert c[0, 0, 0] == img[8, 3, 8]


def test_crop_pads_at_the_edge():
    img = np.arange(8 * 8 * 8, dtype=float).reshape(8, 8, 8)
    mask = np.zeros_like(img)
    mask[0, 0, 0] = 1
    c = crop_around_mask(img, mask, 4)
    assert c.shape == (4, 4, 4)
    assert c[0, 0, 0] == img[0, 0, 0]  # edge padding repeats the border voxel
    assert c[3, 3, 3] == img[1, 1, 1]


def test_crop_rejects_bad_input():
    with pytest.raises(DataError):
        crop_around_mask(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), 4)
    with pytest.raises(DataError):
        crop_around_mask(np.zeros((4, 4, 4)), np.ones((4, 4, 5)), 4)


def test_physical_crop_is_centred_and_resampled():
    import SimpleITK as sitk

    from radscore.features.deep import crop_lesion

    ct_arr = np.zeros((20, 20, 20), np.float32)
    ct_arr[10, 10, 10] = 100.0  # a marker voxel at the tumour centre
    ct = sitk.GetImageFromArray(ct_arr)
    ct.SetSpacing((2.0, 2.0, 2.0))
    pet = sitk.GetImageFromArray(np.full((10, 10, 10), 3.0, np.float32))
    pet.SetSpacing((4.0, 4.0, 4.0))
    m = np.zeros((20, 20, 20), np.uint8)
    m[9:12, 9:12, 9:12] = 1  # centre voxel (10, 10, 10) -> 20 mm
    mask = sitk.GetImageFromArray(m)
    mask.CopyInformation(ct)
    c = crop_lesion(ct, pet, mask, size=9, spacing_mm=1.0)
    assert c["ct"].shape == c["pet"].shape == (9, 9, 9)
    # 1 mm grid centred on the marker: linear interpolation of a 2 mm voxel at offsets 0, +-1 mm
    assert c["ct"][4, 4, 4] == pytest.approx(100.0)
    assert c["ct"][4, 4, 5] == pytest.approx(50.0)
    assert c["pet"][4, 4, 4] == pytest.approx(3.0)


def test_normalisation_scales():
    assert normalise_crop(np.array([-2000.0, 0.0, 500.0]), "ct").tolist() == [-1.0, 0.0, 0.5]
    assert normalise_crop(np.array([-1.0, 5.0, 40.0]), "pet").tolist() == [0.0, 0.5, 3.0]


def _cohort(n=12, size=8, seed=0):
    rng = np.random.default_rng(seed)
    rows, crops = [], {}
    for i in range(n):
        pid = f"P{i:02d}"
        level = i % 3
        crops[(pid, "baseline", "1")] = {"pet": level * 4.0 + rng.random((size,) * 3),
                                         "ct": level * 300.0 + 50 * rng.random((size,) * 3)}
        rows.append({"patient_id": pid, "timepoint": "baseline", "lesion_id": "1", "ct_x": float(i)})
    return pd.DataFrame(rows), crops


def test_without_torch_features_are_unchanged(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    feats, crops = _cohort()
    out, note = add_deep_features(feats, crops, DeepFeatureSettings(enabled=True, crop_size=8), ["P00"])
    assert out is feats and "PyTorch is not installed" in note


def test_disabled_by_default():
    feats, crops = _cohort()
    out, note = add_deep_features(feats, crops, DeepFeatureSettings(), ["P00"])
    assert out is feats and "disabled" in note


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (optional extra 'deep') is not installed")


SETTINGS = DeepFeatureSettings(enabled=True, crop_size=8, latent_size=3, epochs=15, learning_rate=1e-2)
TRAIN = [f"P{i:02d}" for i in range(8)]


def test_features_are_deterministic_and_named(torch):
    feats, crops = _cohort()
    a, note = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    b, _ = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    cols = [c for c in a.columns if c.startswith("deep_")]
    assert cols == ["deep_pet_00", "deep_pet_01", "deep_pet_02", "deep_ct_00", "deep_ct_01", "deep_ct_02"]
    pd.testing.assert_frame_equal(a, b)
    assert "trained on 8 training crops" in note
    assert torch.get_num_threads() >= 1 and not torch.are_deterministic_algorithms_enabled()  # settings restored


def test_testing_crops_do_not_shape_the_encoder(torch):
    feats, crops = _cohort()
    a, _ = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    crops2 = dict(crops)
    crops2[("P11", "baseline", "1")] = {"pet": np.full((8,) * 3, 30.0), "ct": np.full((8,) * 3, -900.0)}
    b, _ = add_deep_features(feats, crops2, SETTINGS, TRAIN, seed=1)
    train_rows = feats["patient_id"].isin(TRAIN).to_numpy()
    deep = [c for c in a.columns if c.startswith("deep_")]
    np.testing.assert_array_equal(a.loc[train_rows, deep].to_numpy(), b.loc[train_rows, deep].to_numpy())
    assert not np.allclose(a.loc[~train_rows, deep].to_numpy(), b.loc[~train_rows, deep].to_numpy())


def test_training_reduces_reconstruction_loss(torch):
    from radscore.features.deep import CropAutoEncoder

    _, crops = _cohort()
    X = np.stack([normalise_crop(c["pet"], "pet") for c in crops.values()])
    ae = CropAutoEncoder(crop_size=8, latent_size=3, epochs=30, learning_rate=1e-2, random_state=0).fit(X)
    assert ae.loss_curve_[-1] < 0.5 * ae.loss_curve_[0]


def test_weights_round_trip_and_bad_files(torch, tmp_path):
    feats, crops = _cohort()
    a, _ = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1, weights_dir=tmp_path)
    assert (tmp_path / "deep_pet.pt").is_file() and (tmp_path / "deep_ct.pt").is_file()
    loaded = SETTINGS.model_copy(update={"weights": str(tmp_path / "deep_{modality}.pt")})
    b, note = add_deep_features(feats, crops, loaded, [], seed=99)
    pd.testing.assert_frame_equal(a, b)
    assert "weights from" in note
    with pytest.raises(ModelFileError):
        add_deep_features(feats, crops, SETTINGS.model_copy(update={"weights": str(tmp_path / "none_{modality}.pt")}), [])
    (tmp_path / "junk_pet.pt").write_bytes(b"not a state dict")
    with pytest.raises(ModelFileError):
        add_deep_features(feats, crops, SETTINGS.model_copy(update={"weights": str(tmp_path / "junk_{modality}.pt")}), [])
    wrong = SETTINGS.model_copy(update={"latent_size": 4, "weights": str(tmp_path / "deep_{modality}.pt")})
    with pytest.raises(ModelFileError, match="do not fit"):
        add_deep_features(feats, crops, wrong, [])


@pytest.mark.slow
def test_end_to_end_on_simulated_study(torch, tmp_path):
    from radscore.features.deep import crops_from_manifest
    from radscore.simulate.study import write_study

    root = write_study(tmp_path / "study", n_patients=4, seed=5, workers=1).parent
    manifest = pd.read_csv(root / "manifest.csv", dtype={"lesion_id": str})
    crops = crops_from_manifest(manifest, root, size=16)
    assert len(crops) == len(manifest)
    pet = np.stack([c["pet"] for c in crops.values()])
    assert pet.max() > 1.0  # the FDG-avid tumour is inside the crops
    feats = manifest[["patient_id", "timepoint", "lesion_id"]].astype(str)
    s = DeepFeatureSettings(enabled=True, crop_size=16, latent_size=4, epochs=3)
    out, note = add_deep_features(feats, crops, s, manifest["patient_id"].unique()[:3], seed=0)
    assert out.filter(like="deep_").shape == (len(manifest), 8)
    assert np.isfinite(out.filter(like="deep_").to_numpy()).all()
