import numpy as np
import pandas as pd
import pytest

from radscore.config import ScanSettings
from radscore.errors import DataError
from radscore.modeling.artifact import load_model, save_model
from radscore.modeling.compare import classifier_zoo, compare_classifiers
from radscore.modeling.radscore import RadscoreClassifier

ZOO = {"adaboost", "gaussian_nb", "gaussian_process", "gradient_boosting", "knn", "logistic_regression",
       "random_forest"}


def _cohort(n, seed, p=400, signal=(0, 1, 2, 3)):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, p))
    X[:, list(signal)] += 1.2 * y[:, None]
    ids = [f"S{seed}_{i:03d}" for i in range(n)]
    return pd.DataFrame(X, index=ids, columns=[f"ct_tumor_f{j}" for j in range(p)]), y


def test_zoo_auc_per_cohort_and_calibration():
    Xtr, ytr = _cohort(120, 0)
    Xte, yte = _cohort(60, 1)
    res = compare_classifiers(Xtr, ytr, {"training": (Xtr, ytr), "testing": (Xte, yte)}, random_state=0)
    assert set(res.auc.model) == ZOO == set(classifier_zoo())
    assert len(res.auc) == 14 and set(res.auc.cohort) == {"training", "testing"}
    test = res.auc[res.auc.cohort == "testing"].set_index("model").auc
    assert (test > 0.6).all() and test.median() > 0.75, test
    assert len(res.predictions) == 7 * 180 and res.predictions.probability.between(0, 1).all()
    assert set(res.calibration.columns) == {"model", "cohort", "bin", "mean_predicted", "fraction_positive"}
    assert {"ct_tumor_f0", "ct_tumor_f1", "ct_tumor_f2", "ct_tumor_f3"} <= set(res.selected_features)
    again = compare_classifiers(Xtr, ytr, {"testing": (Xte, yte)}, random_state=0)
    pd.testing.assert_frame_equal(again.auc.reset_index(drop=True),
                                  res.auc[res.auc.cohort == "testing"].reset_index(drop=True))
    with pytest.raises(DataError):
        compare_classifiers(Xtr, np.zeros(120), {})


def test_random_forest_radscore_median_cutoff_and_artifact(tmp_path):
    Xtr, ytr = _cohort(120, 2)
    Xte, yte = _cohort(60, 3)
    m = RadscoreClassifier(model="random_forest", cutoff="median", random_state=0).fit(Xtr, ytr)
    r = m.decision_function(Xtr)
    assert m.cutoff_ == pytest.approx(np.median(r))
    assert (m.predict(Xtr) == 1).mean() == pytest.approx(0.5, abs=0.02)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(yte, m.decision_function(Xte)) > 0.65
    loaded = load_model(save_model(m, tmp_path / "tme", scan=ScanSettings(), name="tme_radscore"))
    np.testing.assert_array_equal(loaded.decision_function(Xte), m.decision_function(Xte))
