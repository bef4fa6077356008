"""Feature selection steps as scikit-learn transformers (PROTOCOL A7).

Every step is a :class:`~sklearn.feature_selection.SelectorMixin`: it learns a support
mask in ``fit`` and only keeps columns in ``transform``, so the steps chain in one
:class:`~sklearn.pipeline.Pipeline` with the model and any cross-validation refits the
whole selection inside each fold (no information from a validation fold reaches it).
``get_feature_names_out`` carries the feature names through the chain.

A step that would keep no feature keeps instead the ``fallback_k`` features with the
smallest univariate (Welch t-test) p-value, logged as a warning: a model with zero inputs
is useless, and the univariate ranking is the most conservative choice left.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

logger = logging.getLogger(__name__)


def univariate_pvalues(X: np.ndarray, y: np.ndarray, test: str = "ttest") -> np.ndarray:
    """Two-sided p-value of each column between the outcome classes.

    ``ttest`` is Welch's t-test (unequal variances: radiomic features rarely have equal
    spread in responders and non-responders); ``mannwhitney`` the Mann–Whitney U test.
    Constant columns (NaN statistic) get p = 1.

    References
    ----------
    Welch BL. Biometrika 1947;34:28-35. Mann HB, Whitney DR. Ann Math Stat 1947;18:50-60.
    """
    y = np.asarray(y)
    a, b = X[y == 1], X[y == 0]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # Nearly constant columns (e.g. a VOI's texture at one gray level in most patients) make
        # scipy warn of precision loss once per call; their p-values only rank them last.
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        if test == "ttest":
            p = stats.ttest_ind(a, b, axis=0, equal_var=False).pvalue
        elif test == "mannwhitney":
            p = stats.mannwhitneyu(a, b, axis=0, alternative="two-sided").pvalue
        else:
            raise ValueError(f"unknown test {test!r}; use 'ttest' or 'mannwhitney'")
    return np.where(np.isfinite(p), p, 1.0)


def _top_k(pvalues: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k smallest p-values (stable: ties keep column order)."""
    mask = np.zeros(pvalues.shape[0], dtype=bool)
    mask[np.argsort(pvalues, kind="stable")[: min(k, pvalues.shape[0])]] = True
    return mask


class _Selector(SelectorMixin, BaseEstimator):
    """Shared plumbing: validate X (NaN allowed upstream of the imputer is not), store mask."""

    def _validate(self, X, reset=True):
        return validate_data(self, X, reset=reset, dtype=np.float64)

    def _validate_binary(self, X, y):
        """X as float and y as 0/1 (the larger label is 1); a binary outcome is required."""
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        classes = np.unique(y)
        if classes.shape[0] != 2:
            raise ValueError(f"{type(self).__name__} needs a binary outcome (2 classes), got {classes.shape[0]}")
        return X, (y == classes[1]).astype(int)

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # binary outcomes only (responders vs non-responders): tells scikit-learn's
        # estimator checks to pass two classes
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags


class ConstantFilter(_Selector):
    """Drop columns whose range is zero (up to ``tol`` relative to their magnitude)."""

    def __init__(self, *, tol: float = 1e-12):
        self.tol = tol

    def fit(self, X, y=None):
        X = self._validate(X)
        spread = X.max(axis=0) - X.min(axis=0)
        scale = np.maximum(1.0, np.abs(X).max(axis=0))
        self.support_ = spread > self.tol * scale
        logger.debug("constant filter keeps %d of %d", self.support_.sum(), X.shape[1])
        return self


class UnivariateFilter(_Selector):
    """Keep features whose univariate p-value between the classes is below ``p_threshold``.

    Parameters
    ----------
    test : {"ttest", "mannwhitney"}
        See :func:`univariate_pvalues`.
    p_threshold : float
        Keep features with ``p < p_threshold`` (PROTOCOL A7: 0.05).
    fallback_k : int
        Features kept (smallest p) when none passes.
    """

    def __init__(self, *, test: str = "ttest", p_threshold: float = 0.05, fallback_k: int = 5):
        self.test = test
        self.p_threshold = p_threshold
        self.fallback_k = fallback_k

    def fit(self, X, y):
        X, y = self._validate_binary(X, y)
        self.pvalues_ = univariate_pvalues(X, y, self.test)
        self.support_ = self.pvalues_ < self.p_threshold
        if not self.support_.any():
            logger.warning("no feature has %s p < %g; keeping the %d with the smallest p",
                           self.test, self.p_threshold, self.fallback_k)
            self.support_ = _top_k(self.pvalues_, self.fallback_k)
        return self


class CorrelationFilter(_Selector):
    """Drop near-duplicates: of features with ``|r| > threshold`` keep the most associated one.

    Features are visited by increasing Welch p-value (column order when ``y`` is None) and
    a feature is kept when its absolute Pearson correlation with every kept feature is at
    most ``threshold``. Correlations are computed in blocks against the kept set, so memory
    stays O(samples x kept) even for tens of thousands of columns (a full correlation
    matrix of 50 000 features would need 20 GB).
    """

    def __init__(self, *, threshold: float = 0.95, block: int = 512):
        self.threshold = threshold
        self.block = block

    def fit(self, X, y=None):
        if y is None:
            X = self._validate(X)
        else:
            X, y = self._validate_binary(X, y)
        n, p = X.shape
        order = np.arange(p) if y is None else np.argsort(univariate_pvalues(X, y), kind="stable")
        sd = X.std(axis=0)
        Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0) / np.sqrt(n)  # Z.T @ Z = correlation
        kept: list[int] = []
        for start in range(0, p, self.block):
            cand = order[start:start + self.block]
            if kept:
                r = np.abs(Z[:, kept].T @ Z[:, cand]).max(axis=0)
                cand = cand[r <= self.threshold]
            inner = np.abs(Z[:, cand].T @ Z[:, cand])
            chosen: list[int] = []
            for j in range(len(cand)):
                if not chosen or inner[chosen, j].max() <= self.threshold:
                    chosen.append(j)
            kept.extend(int(c) for c in cand[chosen])
        self.support_ = np.zeros(p, dtype=bool)
        self.support_[kept] = True
        return self


class MrmrSelector(_Selector):
    """Minimum-redundancy maximum-relevance selection, difference (MID-type) criterion.

    Greedy (Peng et al. 2005): the first feature has the largest relevance; each next one
    maximises ``relevance(f) - mean_{s in S} |r(f, s)|`` over the selected set ``S``, with
    relevance = |point-biserial correlation with the outcome| (equivalent to the t
    statistic's ranking). Pearson |r| stands in for mutual information so relevance and
    redundancy share one scale: the quotient form (FCQ, F / mean |r|) is dominated by
    near-zero redundancies of pure-noise features in wide tables. Written here because
    the ``mrmr-selection`` package offers a function on DataFrames, not a transformer, and
    implements only the quotient criteria.

    References
    ----------
    Peng H, Long F, Ding C. IEEE TPAMI 2005;27:1226-1238 (MID/MIQ criteria).
    Ding C, Peng H. J Bioinform Comput Biol 2005;3:185-205 (continuous variants FCD/FCQ).
    """

    def __init__(self, *, n_features: int = 10):
        self.n_features = n_features

    def fit(self, X, y):
        X, y = self._validate_binary(X, y)
        n, p = X.shape
        sd = X.std(axis=0)
        Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0) / np.sqrt(n)  # Z.T @ Z = correlation
        yc = (y - y.mean()) / (y.std() * np.sqrt(n))
        self.relevance_ = np.abs(Z.T @ yc)
        k = min(self.n_features, p)
        selected = [int(np.argmax(self.relevance_))]
        redundancy = np.zeros(p)
        while len(selected) < k:
            redundancy += np.abs(Z.T @ Z[:, selected[-1]])
            score = self.relevance_ - redundancy / len(selected)
            score[selected] = -np.inf
            selected.append(int(np.argmax(score)))
        self.support_ = np.zeros(p, dtype=bool)
        self.support_[selected] = True
        self.order_ = np.array(selected)
        return self


def _neg_log_loss(estimator, X: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn's ``neg_log_loss`` scorer for 0/1 outcomes, the same arithmetic without its checks.

    LogisticRegressionCV scores every (fold, C) pair: 50 calls per fit, several thousand per
    study, where the scorer's input validation cost 5 ms a call (a third of the model
    stage). Same steps as ``log_loss``: the positive-class probability from
    ``predict_proba``, the negative class as 1 - p, clipped to [eps, 1 - eps], the mean of
    -log of the true class's probability.
    """
    p = estimator.predict_proba(X)[:, 1]
    eps = np.finfo(p.dtype).eps
    true = np.clip(np.where(np.asarray(y) == 1, p, 1 - p), eps, 1 - eps)
    return -float(np.mean(-np.log(true)))


class LassoSelector(_Selector):
    """Keep the features with non-zero coefficients of an L1 logistic regression.

    The strength C is chosen by stratified CV (log-loss) on standardised features; when
    more than ``max_features`` survive, the largest |coefficients| are kept; when none
    survives, the ``fallback_k`` smallest Welch p-values.

    References
    ----------
    Tibshirani R. J R Stat Soc B 1996;58:267-288.
    """

    def __init__(self, *, cv: int = 5, Cs: int = 10, max_features: int | None = 15,
                 fallback_k: int = 5, random_state: int = 0):
        self.cv = cv
        self.Cs = Cs
        self.max_features = max_features
        self.fallback_k = fallback_k
        self.random_state = random_state

    def fit(self, X, y):
        X, y = self._validate_binary(X, y)
        Xs = StandardScaler().fit_transform(X)
        folds = max(2, min(self.cv, int(np.bincount(y.astype(int)).min())))
        lr = LogisticRegressionCV(
            # C in [1e-3, 1e2] on standardised features: beyond 1e2 the fit is unpenalised
            # and liblinear stops converging on separable folds.
            Cs=np.logspace(-3, 2, self.Cs) if isinstance(self.Cs, int) else self.Cs, l1_ratios=(1.0,), solver="liblinear", scoring=_neg_log_loss,
            cv=StratifiedKFold(folds, shuffle=True, random_state=self.random_state),
            random_state=self.random_state, use_legacy_attributes=False, max_iter=1000,
        )
        lr.fit(Xs, y)
        self.C_ = float(np.ravel(lr.C_)[0])
        self.coef_ = np.ravel(lr.coef_)
        nz = np.abs(self.coef_) > 0
        if not nz.any():
            logger.warning("LASSO kept no feature (C=%g); keeping the %d with the smallest t-test p",
                           self.C_, self.fallback_k)
            self.support_ = _top_k(univariate_pvalues(X, y), self.fallback_k)
        elif self.max_features is not None and nz.sum() > self.max_features:
            self.support_ = self._path_cap(Xs, y)
        else:
            self.support_ = nz
        return self


    def _path_cap(self, Xs: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Features at the weakest L1 penalty that keeps between 1 and ``max_features``.

        Taking the largest |coefficients| of a weakly penalised fit would rank features by
        an unstable, nearly unregularised fit (the inner CV after a univariate filter often
        picks a small penalty); following the path keeps the features that enter first.
        The penalty is found by bisection on log C (the active set grows with C).
        """
        from sklearn.linear_model import LogisticRegression

        def active(C: float) -> np.ndarray:
            lr = LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", max_iter=1000,
                                    random_state=self.random_state).fit(Xs, y)
            return np.ravel(lr.coef_)

        hi, lo = np.log(self.C_), np.log(self.C_) - np.log(1e6)  # too many at hi; assume none at lo
        found = None
        for _ in range(14):
            mid = (hi + lo) / 2
            coef = active(float(np.exp(mid)))
            n = int((np.abs(coef) > 0).sum())
            if n > self.max_features:
                hi = mid
            else:
                lo = mid
                if n > 0:
                    found = (float(np.exp(mid)), coef)
        if found is None:
            return _top_k(-np.abs(self.coef_), self.max_features)
        self.C_, self.coef_ = found
        return np.abs(self.coef_) > 0


def selection_steps(settings, *, final_estimator=None, random_state: int = 0) -> list[tuple[str, object]]:
    """The selection chain configured by :class:`radscore.config.SelectionSettings`.

    constant -> univariate -> near-duplicate -> [mRMR] -> LASSO -> [RFE with the final model].
    The near-duplicate filter runs after the univariate one because pairwise correlation of
    all raw columns does not scale to 50 000 features, and the univariate filter is
    per-column (dropping a duplicate first or later gives the same univariate result).
    """
    s = settings
    steps: list[tuple[str, object]] = [
        ("constant", ConstantFilter()),
        ("univariate", UnivariateFilter(test=s.univariate_test, p_threshold=s.ttest_p, fallback_k=s.fallback_features)),
        ("deduplicate", CorrelationFilter(threshold=s.correlation_threshold)),
    ]
    if s.mrmr_features is not None:
        steps.append(("mrmr", MrmrSelector(n_features=s.mrmr_features)))
    steps.append(("lasso", LassoSelector(cv=s.lasso_cv_folds, max_features=s.max_features,
                                         fallback_k=s.fallback_features, random_state=random_state)))
    if s.rfe_features is not None and final_estimator is not None:
        steps.append(("rfe", RfeSelector(clone(final_estimator), n_features=s.rfe_features)))
    return steps


class RfeSelector(_Selector):
    """Recursive feature elimination with the final model down to ``n_features`` (scikit-learn's RFE).

    When the earlier steps leave ``n_features`` or fewer columns there is nothing to
    eliminate and all are kept: scikit-learn's RFE would refuse a single column (a small
    training set, e.g. 16 patients, can leave one after LASSO).
    """

    def __init__(self, estimator=None, *, n_features: int = 10):
        self.estimator = estimator
        self.n_features = n_features

    def fit(self, X, y):
        from sklearn.feature_selection import RFE

        X = self._validate(X)
        if X.shape[1] <= self.n_features:
            self.support_ = np.ones(X.shape[1], dtype=bool)
        else:
            self.support_ = RFE(clone(self.estimator), n_features_to_select=self.n_features).fit(X, y).support_
        logger.debug("RFE keeps %d of %d", self.support_.sum(), X.shape[1])
        return self
