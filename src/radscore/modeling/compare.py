"""The mCRC comparison of classifiers (PROTOCOL B3): every A10 metric per classifier and cohort.

The Rad-Score itself is ``RadscoreClassifier(model="random_forest", cutoff="median")`` (a
scikit-learn random forest, saved as plain arrays by :mod:`radscore.modeling.artifact`);
this module compares it with the seed's zoo — AdaBoost, Gaussian NB, Gaussian process,
gradient boosting, KNN, logistic regression and random forest — fitted on the same
training-only selection. Each classifier scores with its class-1 probability; its cutoff is
the maximum Youden index on its training probabilities, applied unchanged to every cohort.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import calibration_curve
from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from radscore.config import SelectionSettings
from radscore.errors import DataError
from radscore.modeling.evaluate import cohort_metrics
from radscore.modeling.radscore import youden_cutoff
from radscore.modeling.selection import selection_steps

logger = logging.getLogger(__name__)


def classifier_zoo(random_state: int = 0, n_train: int | None = None) -> dict[str, object]:
    """The seed's comparison classifiers, each behind a standard scaler (KNN, GP and LR need it).

    Hyper-parameters are scikit-learn defaults except where a default is random (seeded)
    or ill-suited to ~100 patients (random forest: 500 trees; KNN: 10 neighbours, fewer when
    ``n_train`` patients cannot supply them).
    """
    models = {
        "adaboost": AdaBoostClassifier(random_state=random_state),
        "gaussian_nb": GaussianNB(),
        "gaussian_process": GaussianProcessClassifier(random_state=random_state),
        "gradient_boosting": GradientBoostingClassifier(random_state=random_state),
        "knn": KNeighborsClassifier(n_neighbors=max(1, min(10, (n_train or 11) - 1))),
        "logistic_regression": LogisticRegression(max_iter=1000),
        "random_forest": RandomForestClassifier(n_estimators=500, random_state=random_state),
    }
    return {name: make_pipeline(StandardScaler(), m) for name, m in models.items()}


@dataclasses.dataclass(frozen=True)
class ComparisonResult:
    """Classifier comparison across cohorts.

    Attributes
    ----------
    auc : DataFrame
        Tidy: ``model``, ``cohort``, ``n``, ``n_positive``, ``auc``.
    predictions : DataFrame
        Tidy calibration inputs: ``model``, ``cohort``, ``patient_id``, ``y``, ``probability``.
    calibration : DataFrame
        Quantile-binned calibration curve: ``model``, ``cohort``, ``bin``, ``mean_predicted``,
        ``fraction_positive``.
    selected_features : tuple of str
        Features the shared selection kept (training cohort only).
    metrics : DataFrame
        Tidy, every A10 metric of :func:`~radscore.modeling.evaluate.cohort_metrics`:
        ``model``, ``cohort``, ``metric``, ``estimate``, ``ci_low``, ``ci_high``, ``p_value``,
        ``note``. Metrics (:data:`METRICS`): ``cutoff`` (training Youden cutoff on the
        probability), ``auc`` (DeLong CI, p against 0.5), ``pr_auc`` (bootstrap CI,
        permutation p), ``hosmer_lemeshow`` (chi-square, p), ``brier``,
        ``calibration_intercept``, ``calibration_slope``, and at the cutoff ``sensitivity``,
        ``specificity``, ``ppv``, ``npv``, ``accuracy``, ``recall``, ``f1``, ``mcc``,
        ``kappa`` with their CIs. A metric that cannot be computed (e.g. one outcome class)
        has a NaN estimate, and a missing estimate or CI is explained in ``note``.
    """

    auc: pd.DataFrame
    predictions: pd.DataFrame
    calibration: pd.DataFrame
    selected_features: tuple
    metrics: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """The AUC table."""
        return self.auc


METRICS = ("cutoff", "auc", "pr_auc", "hosmer_lemeshow", "brier", "calibration_intercept", "calibration_slope",
           "sensitivity", "specificity", "ppv", "npv", "accuracy", "recall", "f1", "mcc", "kappa")

# cohort_metrics' notes read "<statistic>: <reason>"; the metrics each statistic gives
_NOTE_PREFIXES = {"auc": ("DeLong CI:",), "hosmer_lemeshow": ("Hosmer-Lemeshow:",), "brier": ("calibration:",),
                  "calibration_intercept": ("calibration:",),
                  "calibration_slope": ("calibration:", "calibration slope:")}


def _metric_rows(m: dict, cutoff: float) -> list[dict]:
    """:func:`cohort_metrics`' nested dict as one row per metric of :data:`METRICS`."""
    found: dict[str, tuple] = {"cutoff": (cutoff, None, None, None)}
    if m.get("auc") is not None:
        found["auc"] = (m["auc"], m.get("auc_ci_low"), m.get("auc_ci_high"), m.get("auc_p_value"))
        found["pr_auc"] = (m["pr_auc"], m["pr_auc_ci_low"], m["pr_auc_ci_high"], m["pr_auc_p_value"])
        if "hosmer_lemeshow" in m:
            found["hosmer_lemeshow"] = (m["hosmer_lemeshow"]["statistic"], None, None, m["hosmer_lemeshow"]["p_value"])
        for key in ("brier", "calibration_intercept", "calibration_slope"):
            if m.get(key) is not None:
                found[key] = (m[key], None, None, None)
        for key, v in m["at_cutoff"].items():
            found[key] = (v["estimate"], v["ci_low"], v["ci_high"], None)
    notes = m.get("notes", [])
    rows = []
    for metric in METRICS:
        est, lo, hi, p = (np.nan if v is None else float(v) for v in found.get(metric, (None,) * 4))
        # a metric's own notes (e.g. no DeLong CI), else every note when it has no estimate at all
        own = [n for n in notes if n.startswith(_NOTE_PREFIXES.get(metric, ()))]
        note = "; ".join(own) or (("; ".join(notes) or "not estimable") if np.isnan(est) else None)
        rows.append({"metric": metric, "estimate": est, "ci_low": lo, "ci_high": hi, "p_value": p, "note": note})
    return rows


def compare_classifiers(X_train: pd.DataFrame, y_train, cohorts: Mapping[str, tuple[pd.DataFrame, object]],
                        *, selection: SelectionSettings | None = None, models: Mapping[str, object] | None = None,
                        n_bins: int = 5, random_state: int = 0) -> ComparisonResult:
    """Fit every classifier on the training cohort and score every cohort.

    Parameters
    ----------
    X_train : DataFrame
        Training patients x features (index = patient IDs).
    y_train : array-like of 0/1
        Training outcome (e.g. TME phenotype: 1 = immune-enhanced "hot").
    cohorts : mapping
        ``{"training": (X, y), "testing": (X, y), ...}``; the training cohort is scored
        in-sample if included (labelled as such by its key).
    selection : SelectionSettings, optional
        Selection fitted once on the training cohort and shared by all classifiers
        (no step depends on the classifier unless ``rfe_features`` is set, which is
        ignored here).
    models : mapping, optional
        Name -> unfitted classifier (default :func:`classifier_zoo`).
    n_bins : int
        Quantile bins of the calibration curves.
    random_state : int

    Returns
    -------
    ComparisonResult

    Notes
    -----
    Each classifier's cutoff is the maximum Youden index of its probabilities on the
    training patients it was fitted on (:func:`~radscore.modeling.radscore.youden_cutoff`),
    applied unchanged to every cohort; a patient is positive when probability > cutoff.
    ``random_state`` also seeds the metrics' bootstrap CIs and permutation p-values.
    """
    settings = (selection or SelectionSettings()).model_copy(update={"rfe_features": None})
    yt = np.asarray(y_train).astype(int)
    if len(set(yt)) < 2:
        raise DataError("the training outcome has one class only.", fix="check the phenotype labels.")
    names = [str(c) for c in X_train.columns]
    selector = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
                        + selection_steps(settings, random_state=random_state))
    selector.fit(np.where(np.isfinite(X_train.to_numpy(dtype=float)), X_train.to_numpy(dtype=float), np.nan), yt)
    kept = tuple(str(f) for f in selector.get_feature_names_out(names))

    def prep(X: pd.DataFrame) -> np.ndarray:
        A = X[names].to_numpy(dtype=float)
        return selector.transform(np.where(np.isfinite(A), A, np.nan))

    Xt = prep(X_train)
    auc_rows, pred_frames, cal_rows, metric_rows = [], [], [], []
    for mname, est in (models or classifier_zoo(random_state, n_train=len(yt))).items():
        fitted = clone(est).fit(Xt, yt)
        cutoff = youden_cutoff(yt, fitted.predict_proba(Xt)[:, 1])
        for cname, (X, y) in cohorts.items():
            yy = np.asarray(y).astype(int)
            prob = fitted.predict_proba(prep(X))[:, 1]
            m = cohort_metrics(yy, prob, cutoff, random_state, probability=prob)
            metric_rows += [{"model": mname, "cohort": cname, **r} for r in _metric_rows(m, cutoff)]
            both = len(set(yy)) == 2
            auc_rows.append({"model": mname, "cohort": cname, "n": len(yy), "n_positive": int(yy.sum()),
                             "auc": float(roc_auc_score(yy, prob)) if both else np.nan})
            pred_frames.append(pd.DataFrame({"model": mname, "cohort": cname, "patient_id": X.index.astype(str),
                                             "y": yy, "probability": prob}))
            if both:
                frac, mean = calibration_curve(yy, prob, n_bins=n_bins, strategy="quantile")
                cal_rows += [{"model": mname, "cohort": cname, "bin": b, "mean_predicted": m, "fraction_positive": f}
                             for b, (m, f) in enumerate(zip(mean, frac))]
        logger.info("compared %s", mname)
    return ComparisonResult(auc=pd.DataFrame(auc_rows), predictions=pd.concat(pred_frames, ignore_index=True),
                            calibration=pd.DataFrame(cal_rows), selected_features=kept,
                            metrics=pd.DataFrame(metric_rows))
