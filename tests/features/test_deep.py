"""Deep features: normalisation (no torch needed), then the autoencoder (skipped without PyTorch)."""

import sys

import numpy as np
import pandas as pd
import pytest

from radscore.config import DeepFeatureSettings
from radscore.errors import ModelFileError
from radscore.features.deep import add_deep_features, normalise_crop


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
    out, note, _ = add_deep_features(feats, crops, DeepFeatureSettings(enabled=True, crop_size=8), ["P00"])
    assert out is feats and "PyTorch is not installed" in note


def test_disabled_by_default():
    feats, crops = _cohort()
    out, note, _ = add_deep_features(feats, crops, DeepFeatureSettings(), ["P00"])
    assert out is feats and "disabled" in note


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (optional extra 'deep') is not installed")


SETTINGS = DeepFeatureSettings(enabled=True, crop_size=8, latent_size=3, epochs=15, learning_rate=1e-2)
TRAIN = [f"P{i:02d}" for i in range(8)]


def test_features_are_deterministic_and_named(torch):
    feats, crops = _cohort()
    a, note, _ = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    b, _, _ = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    cols = [c for c in a.columns if c.startswith("deep_")]
    assert cols == ["deep_pet_00", "deep_pet_01", "deep_pet_02", "deep_ct_00", "deep_ct_01", "deep_ct_02"]
    pd.testing.assert_frame_equal(a, b)
    assert "trained on 8 training crops" in note
    assert torch.get_num_threads() >= 1 and not torch.are_deterministic_algorithms_enabled()  # settings restored


def test_testing_crops_do_not_shape_the_encoder(torch):
    feats, crops = _cohort()
    a, _, _ = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    crops2 = dict(crops)
    crops2[("P11", "baseline", "1")] = {"pet": np.full((8,) * 3, 30.0), "ct": np.full((8,) * 3, -900.0)}
    b, _, _ = add_deep_features(feats, crops2, SETTINGS, TRAIN, seed=1)
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


def test_encoders_trained_together_equal_their_separate_fits(torch):
    # the PET and CT encoders train in two threads: each must be bit for bit its own fit
    from radscore.features.deep import CropAutoEncoder, fit_together

    _, crops = _cohort()
    Xs = [np.stack([normalise_crop(c[m], m) for c in crops.values()]) for m in ("pet", "ct")]
    args = dict(crop_size=8, latent_size=3, epochs=10, learning_rate=1e-2)
    alone = [CropAutoEncoder(**args, random_state=s).fit(X) for s, X in zip((3, 4), Xs)]
    together = [CropAutoEncoder(**args, random_state=s) for s in (3, 4)]
    fit_together(together, Xs)
    for a, b in zip(alone, together):
        assert a.loss_curve_ == b.loss_curve_
        for (name, wa), wb in zip(a.model_.state_dict().items(), b.model_.state_dict().values()):
            assert torch.equal(wa, wb), name


def test_weights_round_trip_and_bad_files(torch, tmp_path):
    feats, crops = _cohort()
    a, _, _ = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1, weights_dir=tmp_path)
    assert (tmp_path / "deep_pet.npz").is_file() and (tmp_path / "deep_ct.npz").is_file()
    loaded = SETTINGS.model_copy(update={"weights": str(tmp_path / "deep_{modality}.npz")})
    b, note, _ = add_deep_features(feats, crops, loaded, [], seed=99)
    pd.testing.assert_frame_equal(a, b)
    assert "weights from" in note
    with pytest.raises(ModelFileError):
        add_deep_features(feats, crops, SETTINGS.model_copy(update={"weights": str(tmp_path / "none_{modality}.pt")}), [])
    (tmp_path / "junk_pet.pt").write_bytes(b"not a state dict")
    with pytest.raises(ModelFileError):
        add_deep_features(feats, crops, SETTINGS.model_copy(update={"weights": str(tmp_path / "junk_{modality}.pt")}), [])
    wrong = SETTINGS.model_copy(update={"latent_size": 4, "weights": str(tmp_path / "deep_{modality}.npz")})
    with pytest.raises(ModelFileError, match="do not fit"):
        add_deep_features(feats, crops, wrong, [])


def test_a_crop_scored_alone_equals_its_row_in_the_cohort(torch):
    # predict scores one scan at a time; the study scored the cohort together
    feats, crops = _cohort()
    table, _, encoders = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    cols = encoders.columns()
    for i, key in enumerate(crops):
        alone = encoders.transform([crops[key]])
        np.testing.assert_array_equal(alone[cols].to_numpy()[0], table.loc[i, cols].to_numpy(float))


def test_torch_save_weights_still_load(torch, tmp_path):
    # a user's analyses.deep.weights file written by torch.save(state_dict) (read with weights_only=True)
    feats, crops = _cohort()
    a, _, encoders = add_deep_features(feats, crops, SETTINGS, TRAIN, seed=1)
    for mod, ae in encoders.encoders.items():
        torch.save(ae.model_.state_dict(), tmp_path / f"enc_{mod}.pt")
    from_torch = SETTINGS.model_copy(update={"weights": str(tmp_path / "enc_{modality}.pt")})
    b, _, _ = add_deep_features(feats, crops, from_torch, [], seed=5)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_end_to_end_on_simulated_study(torch, tmp_path):
    from radscore.config import ScanSettings, FeatureSettings
    from radscore.features.runner import extract_scans
    from radscore.io.manifest import read_manifest
    from radscore.io.scan import scan_refs
    from radscore.simulate.study import write_study

    root = write_study(tmp_path / "study", n_patients=4, seed=5, workers=1, protocol="quick").parent
    manifest = read_manifest(root / "manifest.csv")
    # the crops come from the extraction's scan loader, as in `radscore run`
    settings = ScanSettings(features=FeatureSettings(feature_classes=["firstorder"], images=["pet"], vois=["tumor"]))
    crops = extract_scans(scan_refs(manifest), settings, workers=1, crop_size=16).crops()
    assert len(crops) == len(manifest)
    pet = np.stack([c["pet"] for c in crops.values()])
    assert pet.max() > 1.0  # the FDG-avid tumour is inside the crops
    feats = manifest[["patient_id", "timepoint", "lesion_id"]].astype(str)
    s = DeepFeatureSettings(enabled=True, crop_size=16, latent_size=4, epochs=3)
    out, note, _ = add_deep_features(feats, crops, s, manifest["patient_id"].unique()[:3], seed=0)
    assert out.filter(like="deep_").shape == (len(manifest), 8)
    assert np.isfinite(out.filter(like="deep_").to_numpy()).all()
