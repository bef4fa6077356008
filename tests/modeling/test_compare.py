import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, matthews_corrcoef, roc_auc_score, roc_curve

from radscore.config import ScanSettings
from radscore.errors import DataError
from radscore.modeling.artifact import load_model, save_model
from radscore.modeling.compare import METRICS, classifier_zoo, compare_classifiers
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


@pytest.fixture(scope="module")
def zoo():
    Xtr, ytr = _cohort(120, 0)
    Xte, yte = _cohort(60, 1)
    res = compare_classifiers(Xtr, ytr, {"training": (Xtr, ytr), "testing": (Xte, yte)}, random_state=0)
    return res, Xtr, ytr, Xte, yte


def test_zoo_auc_per_cohort_and_calibration(zoo):
    res, Xtr, ytr, Xte, yte = zoo
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


def test_zoo_metrics_table_has_every_metric_per_classifier_and_cohort(zoo):
    res, Xtr, ytr, Xte, yte = zoo
    t = res.metrics
    assert list(t.columns) == ["model", "cohort", "metric", "estimate", "ci_low", "ci_high", "p_value", "note"]
    assert len(t) == len(ZOO) * 2 * len(METRICS)
    for (model, cohort), g in t.groupby(["model", "cohort"]):
        assert list(g.metric) == list(METRICS), (model, cohort)
        e = g.set_index("metric")
        # a metric is estimated or says why not (in-sample probabilities may separate the classes,
        # leaving the calibration slope unbounded)
        assert (e.estimate.notna() | e.note.notna()).all(), (model, cohort)
        assert e.note.dropna().str.contains("calibration slope").all()
        assert e.estimate.drop(["calibration_slope", "hosmer_lemeshow"]).notna().all(), (model, cohort)
        # AUC with its DeLong CI and p; the AUC is scikit-learn's on the same probabilities
        pred = res.predictions[(res.predictions.model == model) & (res.predictions.cohort == cohort)]
        assert e.estimate["auc"] == pytest.approx(roc_auc_score(pred.y, pred.probability), abs=1e-12)
        assert e.ci_low["auc"] <= e.estimate["auc"] <= e.ci_high["auc"] and 0 <= e.p_value["auc"] <= 1
        assert e.ci_low["pr_auc"] <= e.estimate["pr_auc"] <= e.ci_high["pr_auc"]
        assert 0 <= e.p_value["hosmer_lemeshow"] <= 1
        # the classification metrics are those of probability > the training cutoff, recomputed here
        pos = pred.probability.to_numpy() > e.estimate["cutoff"]
        y = pred.y.to_numpy()
        assert e.estimate["sensitivity"] == pytest.approx(pos[y == 1].mean())
        assert e.estimate["specificity"] == pytest.approx((~pos[y == 0]).mean())
        assert e.estimate["accuracy"] == pytest.approx((pos == (y == 1)).mean())
        assert e.estimate["kappa"] == pytest.approx(cohen_kappa_score(y, pos.astype(int)))
        assert e.estimate["mcc"] == pytest.approx(matthews_corrcoef(y, pos.astype(int)))
    # one cutoff per classifier, fixed on training: the maximum Youden index of the training probabilities
    cut = t[t.metric == "cutoff"].pivot(index="model", columns="cohort", values="estimate")
    assert (cut["training"] == cut["testing"]).all()
    train = res.predictions[res.predictions.cohort == "training"]
    for model, g in train.groupby("model"):
        fpr, tpr, _ = roc_curve(g.y, g.probability)
        pos = g.probability.to_numpy() > cut.loc[model, "training"]
        j = pos[g.y == 1].mean() - pos[g.y == 0].mean()
        assert j == pytest.approx((tpr - fpr).max()), model


def test_zoo_metrics_of_a_one_class_cohort_say_why():
    Xtr, ytr = _cohort(80, 4, p=40)
    Xte, _ = _cohort(20, 5, p=40)
    lr = {"logistic_regression": classifier_zoo(0)["logistic_regression"]}
    res = compare_classifiers(Xtr, ytr, {"one_class": (Xte, np.ones(20, int))}, models=lr, random_state=0)
    e = res.metrics.set_index("metric")
    assert np.isfinite(e.estimate["cutoff"]) and e.estimate.drop("cutoff").isna().all()
    assert e.note.drop("cutoff").str.contains("one outcome class").all()


def test_random_forest_radscore_median_cutoff_and_artifact(tmp_path):
    Xtr, ytr = _cohort(120, 2)
    Xte, yte = _cohort(60, 3)
    m = RadscoreClassifier(model="random_forest", cutoff="median", cv_folds=5, random_state=0).fit(Xtr, ytr)
    r = m.decision_function(Xtr)
    assert m.cutoff_ == pytest.approx(np.median(r))
    assert (m.predict(Xtr) == 1).mean() == pytest.approx(0.5, abs=0.02)
    assert roc_auc_score(yte, m.decision_function(Xte)) > 0.65
    loaded = load_model(save_model(m, tmp_path / "tme", scan=ScanSettings(), name="tme_radscore"))
    np.testing.assert_array_equal(loaded.decision_function(Xte), m.decision_function(Xte))
