"""The mCRC comparison of classifiers (PROTOCOL B3): AUC per cohort and calibration inputs.

The Rad-Score itself is ``RadscoreClassifier(model="random_forest", cutoff="median")`` (a
random forest in XGBoost's format, so it is saved like the other Radscores); this module
compares it with the seed's zoo — AdaBoost, Gaussian NB, Gaussian process, gradient
boosting, KNN, logistic regression and random forest — fitted on the same training-only
selection.
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
    """

    auc: pd.DataFrame
    predictions: pd.DataFrame
    calibration: pd.DataFrame
    selected_features: tuple

    @property
    def summary(self) -> pd.DataFrame:
        """The AUC table."""
        return self.auc


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
    auc_rows, pred_frames, cal_rows = [], [], []
    for mname, est in (models or classifier_zoo(random_state, n_train=len(yt))).items():
        fitted = clone(est).fit(Xt, yt)
        for cname, (X, y) in cohorts.items():
            yy = np.asarray(y).astype(int)
            prob = fitted.predict_proba(prep(X))[:, 1]
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
                            calibration=pd.DataFrame(cal_rows), selected_features=kept)
