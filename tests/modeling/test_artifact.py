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
