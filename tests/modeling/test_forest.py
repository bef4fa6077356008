"""The random-forest Rad-Score (issue 16 item 3): scikit-learn's forest, a clipped-logit Radscore,
per-model default grids, and the code-free ``forest.json`` artifact that scores bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import ParameterGrid

from radscore.config import ScanSettings
from radscore.errors import DataError, ModelFileError
from radscore.modeling.artifact import _dumps, load_model, save_model
from radscore.modeling.forest import forest_radscore
from radscore.modeling.radscore import RadscoreClassifier, default_grid
from radscore.modeling.signing import generate_keypair, sign_model
from radscore.runtime.files import sha256_bytes, sha256_file

GRID = {"n_estimators": [60], "max_depth": [3, None]}


def _cohort(n, seed, p=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, p)) * 5 + 20
    X[:, :3] += 4 * y[:, None]
    ids = [f"P{seed}_{i:03d}" for i in range(n)]
    return pd.DataFrame(X, columns=[f"ct_tumor_f{j}" for j in range(p)], index=ids), y


@pytest.fixture(scope="module")
def forest():
    X, y = _cohort(100, 0)
    return RadscoreClassifier(model="random_forest", grid=GRID, cv_folds=3, random_state=5).fit(X, y), X, y


def test_forest_radscore_is_clipped_logit_of_scikit_learns_forest(forest):
    m, X, y = forest
    Xnew, ynew = _cohort(80, 1)
    final = m.pipeline_[-1]
    assert type(final) is RandomForestClassifier and final.n_jobs == 1 and final.random_state == 5
    # independent: a forest fitted by scikit-learn alone on the selected columns, same settings and seed
    ref = RandomForestClassifier(random_state=5, n_jobs=1, **m.best_params_).fit(X[m.selected_features_], y)
    p = ref.predict_proba(Xnew[m.selected_features_])[:, 1]
    T = ref.n_estimators
    expected = logit(np.clip(p, 0.5 / T, 1 - 0.5 / T))
    r = m.decision_function(Xnew)
    np.testing.assert_allclose(r, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.predict_proba(Xnew)[:, 1], np.clip(p, 0.5 / T, 1 - 0.5 / T), rtol=1e-12)
    assert roc_auc_score(ynew, r) > 0.75
    # training patients are often unanimous (probability 0 or 1): the Radscore stays finite, at log(2T - 1)
    train = m.decision_function(X)
    assert np.isfinite(train).all() and np.abs(train).max() <= np.log(2 * T - 1) + 1e-12
    np.testing.assert_allclose(forest_radscore(np.array([0.0, 1.0, 0.5, 0.3]), 200),
                               [-np.log(399), np.log(399), 0.0, np.log(0.3 / 0.7)], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(m.predict(Xnew), (r > m.cutoff_).astype(int))


def test_grid_none_is_the_model_types_default_and_bad_keys_are_named():
    X, y = _cohort(40, 2, p=12)
    for kind in ("random_forest", "xgboost"):
        m = RadscoreClassifier(model=kind, cv_folds=2, random_state=0).fit(X, y)
        assert list(m.cv_results_["params"]) == list(ParameterGrid(default_grid(kind)))
    assert default_grid("random_forest") is not default_grid("random_forest")
    with pytest.raises(DataError, match="learning_rate.*random_forest"):
        RadscoreClassifier(model="random_forest", grid={"learning_rate": [0.1]}).fit(X, y)
    with pytest.raises(DataError, match="min_samples_leaf.*xgboost"):
        RadscoreClassifier(model="xgboost", grid={"min_samples_leaf": [1]}).fit(X, y)
    with pytest.raises(DataError, match="unknown model type"):
        default_grid("svm")


def _only_data(node) -> bool:
    """True when a parsed JSON document holds nothing but containers, numbers and text."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _only_data(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_only_data(v) for v in node)
    return isinstance(node, (int, float, str)) or node is None


@pytest.fixture
def saved(forest, tmp_path):
    m, _, _ = forest
    return save_model(m, tmp_path / "tme", scan=ScanSettings(), name="tme_radscore")


def test_saved_forest_scores_new_patients_bit_for_bit(forest, saved):
    m, _, _ = forest
    Xnew, _ = _cohort(80, 3)
    Xnew.iloc[0, Xnew.columns.get_loc(m.selected_features_[0])] = np.nan  # imputed the same way
    Xnew.iloc[1, Xnew.columns.get_loc(m.selected_features_[-1])] = 1e6  # far outside the training range
    loaded = load_model(saved)
    np.testing.assert_array_equal(loaded.decision_function(Xnew), m.decision_function(Xnew))
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["model_type"] == "random_forest" and manifest["model_file"] == "forest.json"
    assert set(manifest["files"]) == {"forest.json", "preprocessing.json", "feature_distribution.json",
                                      "training_summary.csv"}
    assert not (saved / "model.ubj").exists()
    doc = json.loads((saved / "forest.json").read_text())
    assert _only_data(doc) and doc["n_trees"] == len(doc["trees"]) == m.best_params_["n_estimators"]
    assert doc["clip"] == 0.5 / doc["n_trees"]


def _rewrite(folder, edit) -> None:
    """Edit forest.json and re-hash it in the manifest (what the hashes alone cannot catch)."""
    path = folder / "forest.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("manifest_sha256")
    manifest["files"]["forest.json"] = sha256_file(path)
    manifest["manifest_sha256"] = sha256_bytes(_dumps(manifest))
    (folder / "manifest.json").write_bytes(_dumps(manifest))


def _set(tree_field, i, value):
    def edit(doc):
        doc["trees"][0][tree_field][i] = value
    return edit


def _inner(doc) -> int:
    return next(i for i, c in enumerate(doc["trees"][0]["children_left"]) if c != -1)


BAD = {
    "threshold": lambda d: _set("threshold", _inner(d), "x")(d),
    "children_left": lambda d: _set("children_left", _inner(d), 0)(d),  # a cycle back to the root
    "p1": lambda d: _set("p1", d["trees"][0]["children_left"].index(-1), 1.5)(d),
    "feature": lambda d: _set("feature", _inner(d), 10_000)(d),
    "n_trees": lambda d: d.update(n_trees=d["n_trees"] + 1),
    "fields": lambda d: d["trees"][0].pop("threshold"),
    "format": lambda d: d.update(format="pickle"),
}


@pytest.mark.parametrize("field", sorted(BAD))
def test_forest_file_with_a_bad_field_is_refused(saved, field):
    _rewrite(saved, BAD[field])
    with pytest.raises(ModelFileError, match="invalid random forest") as err:
        load_model(saved)
    assert "forest.json" in str(err.value) and field in str(err.value)


def test_forest_file_is_covered_by_hashes_and_signature(saved, tmp_path):
    private, public = generate_keypair(tmp_path / "keys")
    sign_model(saved, private)
    assert load_model(saved, trusted_key=public).signed_by
    data = (saved / "forest.json").read_bytes()
    (saved / "forest.json").write_bytes(data.replace(b"0.", b"1.", 1))
    with pytest.raises(ModelFileError, match="hash mismatch") as err:
        load_model(saved)
    assert "forest.json" in str(err.value)
    (saved / "forest.json").write_bytes(data)
    _rewrite(saved, lambda d: d["trees"][0]["p1"].reverse())  # a consistent forgery: hashes recomputed
    load_model(saved)  # the hashes cannot tell
    with pytest.raises(ModelFileError, match="signature does not verify"):
        load_model(saved, trusted_key=public)
