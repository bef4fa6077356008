import json

import numpy as np
import pandas as pd
import pytest

from radscore.config import ScanSettings, StudyConfig
from radscore.errors import DataError, ModelFileError
from radscore.modeling import artifact
from radscore.modeling.artifact import load_model, save_model
from radscore.modeling.radscore import RadscoreClassifier

GRID = {"max_depth": [2, 3], "n_estimators": [40]}


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(11)
    n, p = 100, 300
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, p)) * 10 + 50
    X[:, :4] += 8 * y[:, None]
    X[rng.random((n, p)) < 0.02] = np.nan
    X = pd.DataFrame(X, columns=[f"ct_tumor_f{i}" for i in range(p)], index=[f"P{i:03d}" for i in range(n)])
    model = RadscoreClassifier(grid=GRID, random_state=1).fit(X, y)
    return model, X


@pytest.fixture
def saved(fitted, tmp_path):
    model, X = fitted
    summary = pd.DataFrame({"cohort": ["training"], "auc": [0.9]})
    folder = save_model(model, tmp_path / "ct", scan=StudyConfig().scan, training_summary=summary,
                        name="ct", positive_class="NDB")
    return folder


def test_roundtrip_reproduces_radscores_exactly(fitted, saved):
    model, X = fitted
    loaded = load_model(saved)
    new = X.copy()
    new.iloc[0, new.columns.get_loc(model.selected_features_[0])] = np.nan  # imputed the same way
    np.testing.assert_array_equal(loaded.decision_function(new), model.decision_function(new))
    out = loaded.score(new.reset_index(names="patient_id"))
    assert list(out.columns) == ["patient_id", "radscore", "probability", "group", "warnings"]
    np.testing.assert_array_equal(out.radscore.to_numpy(), model.decision_function(new))
    np.testing.assert_allclose(out.probability, model.predict_proba(new)[:, 1])
    assert ((out.group == "high") == (model.predict(new) == 1)).all()
    assert out.patient_id.iloc[0] == "P000" and any("missing" in w for w in out.warnings.iloc[0])
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["selected_features"] == model.selected_features_
    assert manifest["cutoff"] == model.cutoff_ and manifest["positive_class"] == "NDB"
    assert "features" in manifest["scan"] and "xgboost" in manifest["versions"]
    assert loaded.scan == StudyConfig().scan and isinstance(loaded.scan, ScanSettings)
    assert not list(saved.glob("*.pkl")) and not list(saved.glob("*.joblib"))
    assert len(loaded.content_hash) == 64 and loaded.content_hash == manifest["manifest_sha256"]


def test_out_of_range_feature_is_warned(fitted, saved):
    model, X = fitted
    loaded = load_model(saved)
    row = X.iloc[[1]].copy()
    f = model.selected_features_[0]
    row[f] = X[f].max() + 100
    w = loaded.score(row).warnings.iloc[0]
    assert len(w) == 1 and w[0].startswith(f) and "outside the training range" in w[0]
    with pytest.raises(DataError, match="absent"):
        loaded.score(X.drop(columns=f))


def test_saving_twice_gives_identical_bytes(fitted, saved, tmp_path):
    model, _ = fitted
    again = save_model(model, tmp_path / "again", scan=StudyConfig().scan,
                       training_summary=pd.DataFrame({"cohort": ["training"], "auc": [0.9]}),
                       name="ct", positive_class="NDB")
    for f in saved.iterdir():
        assert (again / f.name).read_bytes() == f.read_bytes(), f.name


@pytest.mark.parametrize("fname", ["model.ubj", "preprocessing.json", "feature_distribution.json",
                                   "training_summary.csv", "manifest.json"])
def test_tampered_file_is_refused(saved, fname):
    path = saved / fname
    data = bytearray(path.read_bytes())
    if fname.endswith(".json"):
        data = data.replace(b"1", b"2", 1)
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="hash mismatch") as err:
        load_model(saved)
    assert fname in str(err.value)


def test_missing_file_newer_version_and_not_a_model(saved, tmp_path, monkeypatch):
    (saved / "model.ubj").unlink()
    with pytest.raises(ModelFileError, match="missing") as err:
        load_model(saved)
    assert "model.ubj" in str(err.value)
    with pytest.raises(ModelFileError, match="manifest"):
        load_model(tmp_path / "nowhere")
    monkeypatch.setattr(artifact, "FORMAT_VERSION", 0)
    with pytest.raises(ModelFileError, match="newer"):
        load_model(saved)


# ---------------------------------------------------------------- a model that selected deep features
def _crops(y: np.ndarray, rng: np.random.Generator, size: int = 8) -> list[dict[str, np.ndarray]]:
    """PET cubes whose uptake follows the class (so the encoder's features carry it), CT noise."""
    return [{"pet": (2.0 + 6.0 * yi) * rng.random((size,) * 3) + rng.random((size,) * 3),
             "ct": 40.0 * rng.normal(size=(size,) * 3)} for yi in y]


@pytest.fixture(scope="module")
def deep_fitted():
    pytest.importorskip("torch", reason="PyTorch (optional extra 'deep') is not installed")
    from radscore.config import DeepFeatureSettings
    from radscore.features.deep import add_deep_features
    from radscore.modeling.radscore import feature_subset

    rng = np.random.default_rng(4)
    n = 60
    y = np.tile([0, 1], n // 2)
    crops = _crops(y, rng)
    ids = [f"P{i:02d}" for i in range(n)]
    table = pd.DataFrame({"patient_id": ids, "timepoint": "baseline", "lesion_id": "1",
                          **{f"ct_tumor_f{j}": rng.normal(size=n) for j in range(5)}})
    settings = DeepFeatureSettings(enabled=True, crop_size=8, latent_size=3, epochs=15, learning_rate=1e-2)
    table, _, encoders = add_deep_features(table, {(p, "baseline", "1"): c for p, c in zip(ids, crops)}, settings,
                                           ids, seed=1)
    X = table.set_index("patient_id")[feature_subset(table.columns, "tme")]
    model = RadscoreClassifier(grid={"n_estimators": [50], "max_depth": [3]}, cv_folds=3, random_state=1,
                               model="random_forest").fit(X, y)
    assert any(f.startswith("deep_") for f in model.selected_features_), model.selected_features_
    return model, encoders


def test_deep_encoder_is_stored_without_pickle_and_predict_reproduces_the_radscore(deep_fitted, tmp_path):
    model, encoders = deep_fitted
    with pytest.raises(ModelFileError, match="no encoder"):
        save_model(model, tmp_path / "none", scan=ScanSettings(), name="tme")
    folder = save_model(model, tmp_path / "tme", scan=ScanSettings(), name="tme", deep=encoders)
    manifest = json.loads((folder / "manifest.json").read_text())
    used = sorted({f.split("_")[1] for f in model.selected_features_ if f.startswith("deep_")})
    assert manifest["deep_encoder"] == "encoder.json" and "encoder.json" in manifest["files"]
    assert sorted(p.name for p in folder.glob("encoder_*.npz")) == [f"encoder_{m}.npz" for m in used]
    assert all(f"encoder_{m}.npz" in manifest["files"] for m in used)
    settings = json.loads((folder / "encoder.json").read_text())
    assert settings["crop_size"] == 8 and settings["latent_size"] == 3 and set(settings["normalisation"]) == set(used)
    with np.load(folder / f"encoder_{used[0]}.npz", allow_pickle=False) as arrays:  # plain arrays
        assert all(arrays[k].dtype == np.float32 for k in arrays.files)
    # new patients: the study's path (the fitted encoders in memory, the fitted forest) against the artifact's
    crops = _crops(np.array([0, 1, 1, 0]), np.random.default_rng(9))
    hand = pd.DataFrame({f"ct_tumor_f{j}": [0.1, -0.2, 0.3, 0.0] for j in range(5)})
    study_rows = pd.concat([hand, encoders.transform(crops)], axis=1)
    loaded = load_model(folder)
    rows = pd.concat([hand, loaded.deep.transform(crops)], axis=1)
    stored = loaded.deep.columns()
    pd.testing.assert_frame_equal(rows[stored], study_rows[stored], check_exact=True)
    np.testing.assert_allclose(loaded.decision_function(rows),
                               model.decision_function(study_rows[model.feature_names_in_]), rtol=0, atol=1e-9)
    saved_again = save_model(model, tmp_path / "again", scan=ScanSettings(), name="tme", deep=encoders)
    for f in folder.iterdir():  # equal models, equal bytes (the .npz carries no time stamp)
        assert (saved_again / f.name).read_bytes() == f.read_bytes(), f.name


def test_deep_encoder_files_are_hash_checked_and_signed(deep_fitted, tmp_path):
    from radscore.modeling.artifact import _dumps
    from radscore.modeling.signing import generate_keypair, sign_model
    from radscore.runtime.files import sha256_bytes, sha256_file

    model, encoders = deep_fitted
    folder = save_model(model, tmp_path / "tme", scan=ScanSettings(), name="tme", deep=encoders)
    private, public = generate_keypair(tmp_path / "keys")
    sign_model(folder, private)
    weights = next(folder.glob("encoder_*.npz"))
    # another encoder's weights (a different seed), hash and manifest hash recomputed: only the signature tells
    other = type(encoders.encoders["pet"])(crop_size=8, latent_size=3, epochs=1, random_state=7)
    other.fit(np.random.default_rng(0).random((4, 8, 8, 8)))
    weights.write_bytes(other.weights_bytes())
    with pytest.raises(ModelFileError, match="hash mismatch") as err:
        load_model(folder)
    assert weights.name in str(err.value)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("manifest_sha256")
    manifest["files"][weights.name] = sha256_file(weights)
    manifest["manifest_sha256"] = sha256_bytes(_dumps(manifest))
    (folder / "manifest.json").write_bytes(_dumps(manifest))
    assert load_model(folder).deep is not None  # consistent hashes: loads without a key...
    with pytest.raises(ModelFileError, match="signature does not verify"):
        load_model(folder, trusted_key=public)  # ...and is refused with the publisher's key


def test_deep_model_without_listed_encoder_is_refused(deep_fitted, tmp_path):
    from radscore.modeling.artifact import _dumps
    from radscore.runtime.files import sha256_bytes

    model, encoders = deep_fitted
    folder = save_model(model, tmp_path / "tme", scan=ScanSettings(), name="tme", deep=encoders)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("manifest_sha256")
    weights = next(n for n in manifest["files"] if n.startswith("encoder_"))
    del manifest["files"][weights]  # the file stays in the folder, unlisted: it must not be used
    manifest["manifest_sha256"] = sha256_bytes(_dumps(manifest))
    (folder / "manifest.json").write_bytes(_dumps(manifest))
    with pytest.raises(ModelFileError, match="not listed"):
        load_model(folder)
