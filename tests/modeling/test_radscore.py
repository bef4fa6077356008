import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from radscore.config import SelectionSettings
from radscore.errors import DataError
from radscore.modeling.radscore import RadscoreClassifier, feature_subset, youden_cutoff

GRID = {"max_depth": [2], "n_estimators": [30, 60]}


def _table(n=120, p=600, signal=(0, 1, 2), shift=1.0, seed=0, prefix="pet_tumor_f"):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, p))
    X[:, list(signal)] += shift * y[:, None]
    df = pd.DataFrame(X, columns=[f"{prefix}{i}" for i in range(p)], index=[f"P{i:03d}" for i in range(n)])
    return df, y


def test_feature_subset_separates_pet_from_petct():
    cols = ["pet_tumor_a", "petct_ring_b", "ct_core_c", "age", "pet_x"]
    assert feature_subset(cols, "pet") == ["pet_tumor_a", "pet_x"]
    assert feature_subset(cols, "petct") == ["petct_ring_b"]
    assert feature_subset(cols, "ct") == ["ct_core_c"]
    assert feature_subset(cols, "comb") == ["pet_tumor_a", "petct_ring_b", "ct_core_c", "pet_x"]
    # deep features are the TME Rad-Score's candidates only (mCRC seed); NSCLC Radscores are hand-crafted
    deep = [*cols, "deep_pet_00", "pet_conventional_SUVmax"]
    assert feature_subset(deep, "tme") == ["pet_tumor_a", "petct_ring_b", "ct_core_c", "pet_x", "deep_pet_00"]
    assert all("deep_pet_00" not in feature_subset(deep, m) for m in ("pet", "ct", "petct", "comb"))
    with pytest.raises(DataError):
        feature_subset(cols, "mri")


def test_fit_finds_signal_and_is_deterministic():
    X, y = _table()
    X["pet_tumor_nan"] = np.nan
    X["pet_tumor_const"] = 2.0
    X.iloc[3, 5] = np.inf
    m = RadscoreClassifier(grid=GRID, random_state=3).fit(X, y)
    assert {"pet_tumor_f0", "pet_tumor_f1", "pet_tumor_f2"} <= set(m.selected_features_)
    assert m.best_params_["max_depth"] == 2 and len(m.cv_results_) == 2
    r = m.decision_function(X)
    p = m.predict_proba(X)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-r)))
    np.testing.assert_array_equal(m.predict(X), (r > m.cutoff_).astype(int))
    assert roc_auc_score(y, r) > 0.8
    again = RadscoreClassifier(grid=GRID, random_state=3).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(r, again)
    # columns are matched by name, not position
    np.testing.assert_array_equal(m.decision_function(X[X.columns[::-1]]), r)
    with pytest.raises(DataError, match="missing"):
        m.decision_function(X.drop(columns=m.selected_features_[0]))


def test_radscore_is_log_odds_of_class_one():
    X, y = _table(seed=1)
    m = RadscoreClassifier(grid=GRID).fit(X, y)
    booster_prob = m.pipeline_[-1].predict_proba(m.pipeline_[:-1].transform(X.to_numpy()))[:, 1]
    np.testing.assert_allclose(m.predict_proba(X)[:, 1], booster_prob, rtol=1e-5, atol=1e-6)
    # high Radscore goes with class 1 when the signal raises class-1 features
    assert m.decision_function(X)[y == 1].mean() > m.decision_function(X)[y == 0].mean()


def test_zero_selected_falls_back_to_top_k():
    X, y = _table(signal=(), seed=2, p=200)
    sel = SelectionSettings(ttest_p=1e-12, fallback_features=3)
    m = RadscoreClassifier(selection=sel, grid=GRID).fit(X, y)
    assert 1 <= len(m.selected_features_) <= 3


def test_median_cutoff_and_youden():
    X, y = _table(seed=4)
    m = RadscoreClassifier(grid=GRID, cutoff="median").fit(X, y)
    assert m.cutoff_ == pytest.approx(np.median(m.decision_function(X)))
    score = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.4])
    yy = np.array([0, 0, 0, 1, 1, 1])
    c = youden_cutoff(yy, score)
    assert 0.3 < c < 0.4  # score > c classifies perfectly
    assert ((score > c) == yy.astype(bool)).all()


def test_bad_outcome_is_a_data_error():
    X, y = _table(n=30, p=20)
    with pytest.raises(DataError, match="both 0 and 1"):
        RadscoreClassifier(grid=GRID).fit(X, np.ones(30))
    with pytest.raises(DataError, match="no outcome"):
        RadscoreClassifier(grid=GRID).fit(X, np.r_[np.nan, y[1:]])


def test_parallel_folds_give_identical_model():
    X, y = _table(n=80, p=200, seed=6)
    a = RadscoreClassifier(grid=GRID, cv_folds=5, n_jobs=1).fit(X, y)
    b = RadscoreClassifier(grid=GRID, cv_folds=5, n_jobs=2).fit(X, y)
    pd.testing.assert_frame_equal(a.cv_results_, b.cv_results_)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


def test_mrmr_and_rfe_steps_in_the_classifier(tmp_path):
    from radscore.config import ScanSettings
    from radscore.modeling.artifact import load_model, save_model

    X, y = _table(n=100, p=300, seed=8)
    sel = SelectionSettings(mrmr_features=10, rfe_features=4)
    m = RadscoreClassifier(selection=sel, grid=GRID, cv_folds=5).fit(X, y)
    assert [n for n, _ in m.pipeline_.steps] == ["impute", "constant", "univariate", "deduplicate", "mrmr", "lasso",
                                                "rfe", "model"]
    assert len(m.selected_features_) <= 4
    assert len({"pet_tumor_f0", "pet_tumor_f1", "pet_tumor_f2"} & set(m.selected_features_)) >= 2
    loaded = load_model(save_model(m, tmp_path / "m", scan=ScanSettings()))
    np.testing.assert_array_equal(loaded.decision_function(X), m.decision_function(X))


def test_input_errors_are_data_errors_and_value_errors():
    """The CLI reports DataError; scikit-learn's contract expects ValueError: both hold."""
    X, y = _table(n=30, p=20)
    cases = [(y[:-1], "29 values for 30"), (np.linspace(0, 1, 30), "Unknown label type: continuous"),
             (np.arange(30) % 3, "Only binary classification"), (np.where(y == 1, 2, 1), "both 0 and 1"),
             (np.r_[[1, 1], np.zeros(28)], "smaller outcome class")]
    for bad, match in cases:
        with pytest.raises(DataError, match=match) as err:
            RadscoreClassifier(grid=GRID).fit(X, bad)
        assert isinstance(err.value, ValueError) and err.value.fix
    with pytest.raises(ValueError, match="cutoff"):
        RadscoreClassifier(grid=GRID, cutoff="mean").fit(X, y)
    with pytest.raises(DataError, match="could not convert"):
        RadscoreClassifier(grid=GRID).fit(X.assign(pet_tumor_f0="high"), y)


def test_array_input_uses_positional_names():
    X, y = _table(n=60, p=40, seed=9)
    m = RadscoreClassifier(grid=GRID, cv_folds=3).fit(X.to_numpy(), y)
    assert m.n_features_in_ == 40 and not hasattr(m, "feature_names_in_")
    assert all(f.startswith("x") for f in m.selected_features_)
    assert list(m.training_distribution_.index) == m.selected_features_
    with pytest.raises(ValueError, match="X has 39 features"):
        m.decision_function(X.to_numpy()[:, 1:])
