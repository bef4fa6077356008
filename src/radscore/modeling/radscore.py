"""The Radscore classifier: selection and model as one Pipeline, tuned by stratified CV.

PROTOCOL A7–A9: median imputation -> constant / univariate / near-duplicate filters ->
[mRMR] -> LASSO -> [RFE] -> XGBoost (NSCLC Radscores) or a scikit-learn random forest
(mCRC TME Rad-Score, PROTOCOL B3), all refitted inside every CV fold; Radscore is the
model's log-odds of the positive class (class 1); the cutoff is the maximum Youden index on
the training Radscores (or their median) and is applied unchanged to every other cohort.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import ParameterGrid, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from radscore.config import SelectionSettings
from radscore.catalog import CONVENTIONAL_PREFIX, DEEP_MODELS, DEEP_PREFIX, MODEL_IMAGES
from radscore.errors import DataError
from radscore.modeling.forest import forest_radscore
from radscore.modeling.selection import selection_steps

logger = logging.getLogger(__name__)

MODEL_TYPES = ("xgboost", "random_forest")
# Small grids: every point is fitted in every CV fold. The forest's trees are fixed at 200
# (more trees only reduce its variance, at a cost in every fold) and only the size of the
# trees is tuned: shallow or fully grown, leaves of 1 or 3 patients. 4 points x 200 trees
# take about 5 s of CPU for 120 patients and 5 folds.
_DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "xgboost": {"max_depth": [2, 3], "n_estimators": [50, 150], "learning_rate": [0.05, 0.1]},
    "random_forest": {"n_estimators": [200], "max_depth": [3, None], "min_samples_leaf": [1, 3]},
}


@contextlib.contextmanager
def _invalid_input(fix: str):
    """Re-raise scikit-learn's input ``ValueError`` as :class:`DataError`, message kept."""
    try:
        yield
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(str(exc), fix=fix) from None


def feature_subset(columns: Sequence[str], model: str) -> list[str]:
    """Columns a Radscore uses: ``pet`` -> ``pet_*``, ``ct`` -> ``ct_*``, ``petct`` -> ``petct_*``,
    ``comb`` -> all three, ``tme`` -> all three and the deep features ``deep_*``
    (``catalog.DEEP_MODELS``), in the given column order.

    ``pet_`` is not a prefix of ``petct_`` (they differ at the 4th character), so plain
    ``startswith`` on the full prefix with its underscore separates them. The conventional
    PET measures (``pet_conventional_*``) are compared with the Radscores, never inside them.
    """
    if model not in MODEL_IMAGES:
        raise DataError(f"unknown Radscore model {model!r}.", fix=f"use one of {sorted(MODEL_IMAGES)}.")
    prefixes = tuple(f"{image}_" for image in MODEL_IMAGES[model]) + ((DEEP_PREFIX,) if model in DEEP_MODELS else ())
    return [c for c in columns if str(c).startswith(prefixes) and not str(c).startswith(CONVENTIONAL_PREFIX)]


def youden_cutoff(y: np.ndarray, score: np.ndarray) -> float:
    """Cutoff maximising Youden's J = sensitivity + specificity - 1, for the rule ``score > cutoff``.

    The ROC threshold t (positive when ``score >= t``) is turned into the midpoint between
    t and the next lower observed score, so that ``score > cutoff`` classifies the training
    patients exactly as the optimal ROC point does. Ties in J take the highest threshold.

    References
    ----------
    Youden WJ. Cancer 1950;3:32-35.
    """
    fpr, tpr, thr = roc_curve(y, score)
    i = int(np.argmax(tpr - fpr))
    t = thr[i]
    if not np.isfinite(t):
        return float(np.max(score))
    lower = score[score < t]
    return float((t + lower.max()) / 2.0) if lower.size else float(t - 1.0)


def _check_kind(kind: str) -> None:
    if kind not in MODEL_TYPES:
        raise DataError(f"unknown model type {kind!r}.", fix=f"use one of {list(MODEL_TYPES)}.")


def default_grid(kind: str) -> dict[str, list]:
    """The hyper-parameter grid searched for model type ``kind`` when none is given.

    ``xgboost``: max_depth {2, 3} x n_estimators {50, 150} x learning_rate {0.05, 0.1};
    ``random_forest``: 200 trees x max_depth {3, unlimited} x min_samples_leaf {1, 3}.
    A new dict each call (the caller may change it).
    """
    _check_kind(kind)
    return {k: list(v) for k, v in _DEFAULT_GRIDS[kind].items()}


def _make_estimator(kind: str, random_state: int):
    """The unfitted final model of type ``kind``, seeded and single-threaded (folds run in parallel)."""
    _check_kind(kind)
    if kind == "random_forest":
        return RandomForestClassifier(n_jobs=1, random_state=random_state)
    from xgboost import XGBClassifier

    return XGBClassifier(n_jobs=1, random_state=random_state, tree_method="hist", eval_metric="logloss")


def _radscore(model, Xt: np.ndarray) -> np.ndarray:
    """Log-odds of class 1 from a fitted final model: XGBoost's output margin, or a forest's
    clipped probability (:func:`~radscore.modeling.forest.forest_radscore`)."""
    if isinstance(model, RandomForestClassifier):
        return forest_radscore(model.predict_proba(Xt)[:, 1], len(model.estimators_))
    return np.asarray(model.predict(Xt, output_margin=True), dtype=np.float64)


def _parameter_grid(grid: dict | None, kind: str, estimator) -> list[dict]:
    """The grid points, ``None`` meaning :func:`default_grid`; every key must be a parameter of the model."""
    grid = default_grid(kind) if grid is None else grid
    fix = f"use parameters of the {kind} model, e.g. {sorted(_DEFAULT_GRIDS[kind])}, or leave the grid unset."
    if not isinstance(grid, dict) or not grid:
        raise DataError(f"the model grid must be a non-empty mapping of parameter -> list of values, got {grid!r}.",
                        fix=fix)
    valid = estimator.get_params()
    for key in grid:
        if key not in valid:
            raise DataError(f"grid parameter {key!r} is not a parameter of the {kind} model.", file="model.grid",
                            fix=fix)
    try:
        return list(ParameterGrid(grid))
    except (TypeError, ValueError) as exc:
        raise DataError(f"invalid model grid for the {kind} model ({exc}).", file="model.grid", fix=fix) from None


def _fold_scores(selector: Pipeline, model, grid: list[dict], X, y, train, test) -> list[float]:
    """Fit the selection on the training fold once, then every grid point's model."""
    sel = clone(selector).fit(X[train], y[train])
    Xtr, Xte = sel.transform(X[train]), sel.transform(X[test])
    out = []
    for params in grid:
        m = clone(model).set_params(**params).fit(Xtr, y[train])
        out.append(roc_auc_score(y[test], _radscore(m, Xte)))
    return out


def _distribution(A: np.ndarray, names: list[str], selected: list[str]) -> pd.DataFrame:
    """Training distribution of the selected features (before imputation, missing ignored)."""
    pos = {n: i for i, n in enumerate(names)}
    cols = A[:, [pos[f] for f in selected]]
    qs = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0]
    with np.errstate(all="ignore"):
        q = np.nanquantile(cols, qs, axis=0) if cols.size else np.empty((len(qs), 0))
    out = pd.DataFrame(q.T, index=pd.Index(selected, name="feature"),
                       columns=["min", "q01", "q05", "q25", "median", "q75", "q95", "q99", "max"])
    out["mean"] = np.nanmean(cols, axis=0)
    out["sd"] = np.nanstd(cols, axis=0, ddof=1)
    out["n_missing"] = np.isnan(cols).sum(axis=0)
    return out


class RadscoreClassifier(ClassifierMixin, BaseEstimator):
    """Leakage-free Radscore: selection + final model in one Pipeline, stratified-CV grid search.

    Parameters
    ----------
    selection : SelectionSettings, optional
        Selection settings (default ``SelectionSettings()``).
    grid : dict, optional
        Hyper-parameter grid of the final model, parameter name -> list of values; None
        (default) means :func:`default_grid` of ``model``. A name that is not a parameter
        of the model raises :class:`~radscore.errors.DataError`.
    cv_folds : int
        Stratified folds of the grid search (reduced, with a warning, to the minority
        class size when that is smaller).
    cutoff : {"youden", "median"}
        Cutoff rule on the training Radscores.
    random_state : int
        Seed of folds, LASSO and model; fits are deterministic for it.
    n_jobs : int
        Folds fitted in parallel.
    model : {"xgboost", "random_forest"}
        Final model type: ``xgboost.XGBClassifier``, or scikit-learn's
        ``RandomForestClassifier`` (the mCRC TME Rad-Score); both seeded with
        ``random_state`` and single-threaded.

    Attributes
    ----------
    pipeline_ : Pipeline
        Imputer, selection steps and model, refitted on all training data with ``best_params_``.
    best_params_ : dict
    cv_results_ : DataFrame
        One row per grid point: params, mean/std AUC over folds, per-fold AUCs.
    selected_features_ : list of str
    training_distribution_ : DataFrame
        Per selected feature: quantiles (min, 1 %, ..., max), mean, sd and missing count of
        the training patients; the portable artifact uses it to flag out-of-range inputs.
    cutoff_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` (converted to ``str``); only set when ``fit`` got
        a DataFrame. Later DataFrames are matched to them by name, in any column order.
        A model fitted on an array names its features ``x0``, ``x1``, ... in
        ``selected_features_``.
    classes_ : ndarray, ``[0, 1]``

    Notes
    -----
    ``X`` may contain missing and infinite values (both imputed with the training median);
    ``y`` must be coded 0/1 with at least 3 patients in each class. Bad input raises a
    :class:`~radscore.errors.DataError` that is also a ``ValueError``.

    The Radscore is the log-odds of class 1: XGBoost's output margin, or for the random
    forest the logit of its probability clipped to [0.5/T, 1 - 0.5/T] for T trees
    (:func:`~radscore.modeling.forest.forest_radscore`: a forest's vote fraction may be
    exactly 0 or 1). ``predict_proba`` is the logistic of the Radscore, so for a forest it
    is the clipped forest probability.

    ``predict`` applies ``cutoff_`` to the Radscore, not log-odds 0 (probability 0.5):
    the high/low groups are those of the training cutoff (PROTOCOL A9).

    The grid search is scikit-learn's ``GridSearchCV`` semantics (same folds for every grid
    point, best mean AUC, refit on all data) written as a loop so that the selection steps,
    which do not depend on the model's hyper-parameters, are fitted once per fold instead of
    once per fold and grid point.
    """

    def __init__(self, *, selection: SelectionSettings | None = None, grid: dict | None = None,
                 cv_folds: int = 10, cutoff: str = "youden", random_state: int = 0, n_jobs: int = 1,
                 model: str = "xgboost"):
        self.selection = selection
        self.grid = grid
        self.cv_folds = cv_folds
        self.cutoff = cutoff
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.model = model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed inside the pipeline
        tags.classifier_tags.multi_class = False  # 0/1 outcomes only
        return tags

    # -- input handling ---------------------------------------------------------------
    def _features(self, X, *, reset: bool) -> np.ndarray:
        """``X`` as a float matrix (+-inf as NaN); DataFrames matched to the training columns by name."""
        if isinstance(X, pd.DataFrame):
            if not all(isinstance(c, str) for c in X.columns):
                X = X.set_axis([str(c) for c in X.columns], axis=1)
            if not reset and hasattr(self, "feature_names_in_"):
                have = set(X.columns)
                missing = [c for c in self.feature_names_in_ if c not in have]
                if missing:
                    raise DataError(f"{len(missing)} feature columns the model was trained on are missing, "
                                        f"e.g. {missing[:3]}.", fix="extract features with the training settings.")
                X = X[list(self.feature_names_in_)]
        with _invalid_input("pass a patients x features table of numbers (missing values are allowed)."):
            A = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
        return np.where(np.isfinite(A), A, np.nan)  # +-inf (e.g. log of 0) is missing, imputed

    def _outcome(self, y, n: int) -> np.ndarray:
        """``y`` as a 0/1 int vector with both classes."""
        fix = "pass one outcome per patient, coded 1 (positive class) or 0."
        if y is None:
            raise DataError(f"{type(self).__name__} requires y to be passed, but the target y is None.", fix=fix)
        with _invalid_input(fix):
            arr = column_or_1d(y, warn=True)
            if len(arr) != n:
                raise DataError(f"y has {len(arr)} values for {n} patients.", fix=fix)
            missing = int(pd.isna(arr).sum())
            if missing:
                raise DataError(f"{missing} patients have no outcome.", fix="drop them before fitting.")
            try:
                values = arr.astype(np.float64)
            except (TypeError, ValueError):  # e.g. text labels
                values = None
            if values is not None and np.isinf(values).any():
                raise DataError(f"{int(np.isinf(values).sum())} patients have an infinite outcome.", fix=fix)
            kind = type_of_target(arr if values is None else values, input_name="y", raise_unknown=True)
            found = sorted(pd.unique(arr).tolist(), key=str)
            coding = "code the positive class as 1 and the negative as 0."
            if kind not in ("binary", "multiclass"):
                raise DataError(f"Unknown label type: {kind}; the outcome must hold both 0 and 1.", fix=coding)
            if kind == "multiclass":
                raise DataError(f"Only binary classification is supported. The type of the target is {kind} "
                                    f"(values {found[:5]}); the outcome must hold both 0 and 1.", fix=coding)
            if len(found) < 2:
                raise DataError(f"the outcome has only one class ({found}); it must hold both 0 and 1.",
                                    fix=coding)
            if values is None or not set(np.unique(values)) <= {0.0, 1.0}:
                raise DataError(f"the outcome must hold both 0 and 1, found {found}.", fix=coding)
        return values.astype(int)

    def _build(self) -> Pipeline:
        settings = self.selection if self.selection is not None else SelectionSettings()
        est = _make_estimator(self.model, self.random_state)
        steps = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
        steps += selection_steps(settings, final_estimator=est, random_state=self.random_state)
        return Pipeline(steps + [("model", est)])

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y):
        """Grid-search the model by stratified CV (selection refitted per fold), refit on all."""
        if self.cutoff not in ("youden", "median"):
            raise DataError(f"unknown cutoff rule {self.cutoff!r}.", fix="use 'youden' or 'median'.")
        A = self._features(X, reset=True)
        yy = self._outcome(y, A.shape[0])
        names = getattr(self, "feature_names_in_", None)
        names = list(names) if names is not None else [f"x{i}" for i in range(A.shape[1])]
        self.classes_ = np.array([0, 1])
        pipe = self._build()
        grid = _parameter_grid(self.grid, self.model, pipe.steps[-1][1])
        minority = int(np.bincount(yy).min())
        # Cross-validated selection inside each CV fold needs two patients of each class
        # in every fold's training part, hence three in all.
        if minority < 3:
            raise DataError(f"only {minority} patient(s) in the smaller outcome class; cross-validated "
                                "selection needs at least 3.", fix="the cohort cannot support a model; add patients.")
        folds = min(self.cv_folds, minority)
        if folds < self.cv_folds:
            logger.warning("smaller class has %d patients: using %d CV folds instead of %d",
                           minority, folds, self.cv_folds)
        selector, model = Pipeline(pipe.steps[:-1]), pipe.steps[-1][1]
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        per_fold = Parallel(n_jobs=self.n_jobs)(
            delayed(_fold_scores)(selector, model, grid, A, yy, tr, te) for tr, te in cv.split(A, yy))
        scores = np.asarray(per_fold).T  # grid x folds
        rows = []
        for g, params in enumerate(grid):
            row: dict[str, Any] = {"params": params, "mean_test_auc": scores[g].mean(), "std_test_auc": scores[g].std()}
            row.update({f"split{k}_test_auc": s for k, s in enumerate(scores[g])})
            rows.append(row)
        self.cv_results_ = pd.DataFrame(rows)
        best = int(np.argmax(scores.mean(axis=1)))  # first of equals: grid order decides ties
        self.best_params_ = dict(grid[best])
        self.best_score_ = float(scores[best].mean())
        pipe.set_params(**{f"model__{k}": v for k, v in self.best_params_.items()})
        self.pipeline_ = pipe.fit(A, yy)
        self.selected_features_ = [str(f) for f in self.pipeline_[:-1].get_feature_names_out(names)]
        self.training_distribution_ = _distribution(A, names, self.selected_features_)
        train_score = self._margin(A)
        self.cutoff_ = youden_cutoff(yy, train_score) if self.cutoff == "youden" else float(np.median(train_score))
        logger.debug("Radscore (%s): %d features selected, best %s (CV AUC %.3f), cutoff %.4f",
                    self.model, len(self.selected_features_), self.best_params_, self.best_score_, self.cutoff_)
        return self

    # -- prediction -------------------------------------------------------------------
    def _margin(self, A: np.ndarray) -> np.ndarray:
        return _radscore(self.pipeline_[-1], self.pipeline_[:-1].transform(A))

    def decision_function(self, X) -> np.ndarray:
        """Radscore: log-odds of class 1."""
        check_is_fitted(self, "pipeline_")
        return self._margin(self._features(X, reset=False))

    def predict_proba(self, X) -> np.ndarray:
        """Columns P(class 0), P(class 1) = logistic(Radscore)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """1 where the Radscore is above the training cutoff (the "high" group)."""
        return (self.decision_function(X) > self.cutoff_).astype(int)
