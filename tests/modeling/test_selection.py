import numpy as np
import pytest
from sklearn.feature_selection import RFE
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from xgboost import XGBClassifier

from radscore.config import SelectionSettings
from radscore.modeling.selection import (
    ConstantFilter,
    CorrelationFilter,
    LassoSelector,
    MrmrSelector,
    UnivariateFilter,
    selection_steps,
    univariate_pvalues,
)

SIGNAL = [7, 123, 456, 2222, 3999]


@pytest.fixture(scope="module")
def planted():
    """200 patients x 4000 noise features with 5 informative ones (shift 1 SD)."""
    rng = np.random.default_rng(2024)
    y = rng.integers(0, 2, 200)
    X = rng.normal(size=(200, 4000))
    X[:, SIGNAL] += 1.0 * y[:, None]
    return X, y


def test_pvalues_match_scipy_per_column(planted):
    from scipy import stats

    X, y = planted
    p = univariate_pvalues(X[:, :5], y)
    for j in range(5):
        assert p[j] == pytest.approx(stats.ttest_ind(X[y == 1, j], X[y == 0, j], equal_var=False).pvalue)
    pm = univariate_pvalues(X[:, :3], y, "mannwhitney")
    assert pm[0] == pytest.approx(stats.mannwhitneyu(X[y == 1, 0], X[y == 0, 0]).pvalue)


def test_univariate_filter_keeps_signal_and_roughly_alpha_of_noise(planted):
    X, y = planted
    f = UnivariateFilter(p_threshold=0.05).fit(X, y)
    assert set(SIGNAL) <= set(np.flatnonzero(f.get_support()))
    assert 0.03 < f.get_support().mean() < 0.08  # ~5 % false positives among noise
    assert f.transform(X).shape[1] == f.get_support().sum()


def test_constant_and_duplicate_filters():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3))
    X = np.column_stack([a, a[:, 0] * 2 + 1e-6 * rng.normal(size=50), np.full(50, 4.0), -a[:, 1]])
    assert ConstantFilter().fit(X).get_support().tolist() == [True, True, True, True, False, True]
    keep = CorrelationFilter(threshold=0.95, block=2).fit(X[:, [0, 1, 2, 3, 5]]).get_support()
    assert keep.tolist() == [True, True, True, False, False]
    names = CorrelationFilter().fit(X[:, :4]).get_feature_names_out(["a", "b", "c", "a2"])
    assert list(names) == ["a", "b", "c"]


def test_mrmr_prefers_relevant_non_redundant():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s1 = y + rng.normal(scale=0.7, size=300)
    s2 = y + rng.normal(scale=0.9, size=300)
    X = np.column_stack([s1, s1 + rng.normal(scale=0.01, size=300), s2, rng.normal(size=(300, 20))])
    sel = MrmrSelector(n_features=2).fit(X, y)
    assert np.flatnonzero(sel.get_support()).tolist() == [0, 2]  # s1 first, its near-copy skipped


def test_lasso_and_rfe_find_planted_features(planted):
    X, y = planted
    pre = UnivariateFilter().fit(X, y)
    Xs = pre.transform(X)
    idx = np.flatnonzero(pre.get_support())
    las = LassoSelector(max_features=15, random_state=0).fit(Xs, y)
    found = set(idx[las.get_support()])
    assert len(found & set(SIGNAL)) >= 4
    assert las.get_support().sum() <= 15
    rfe = RFE(XGBClassifier(n_estimators=30, max_depth=2, n_jobs=1, random_state=0), n_features_to_select=5,
              step=0.2).fit(Xs, y)
    assert len(set(idx[rfe.get_support()]) & set(SIGNAL)) >= 3


def test_steps_compose_in_a_pipeline_with_names(planted):
    X, y = planted
    s = SelectionSettings(mrmr_features=8, rfe_features=6)
    steps = selection_steps(s, final_estimator=LogisticRegression(), random_state=0)
    assert [n for n, _ in steps] == ["constant", "univariate", "deduplicate", "mrmr", "lasso", "rfe"]
    pipe = Pipeline(steps).fit(X, y)
    names = pipe.get_feature_names_out([f"f{j}" for j in range(X.shape[1])])
    assert len(names) == 6
    assert len({f"f{j}" for j in SIGNAL} & set(names)) >= 4


def test_rfe_step_keeps_what_is_left_when_nothing_to_eliminate(planted):
    """A small training set can leave LASSO one column: scikit-learn's RFE refused it (a
    traceback ended the 24-patient demo); the step keeps the columns it cannot reduce."""
    from radscore.modeling.selection import RfeSelector

    X, y = planted
    est = LogisticRegression()
    one = RfeSelector(est, n_features=10).fit(X[:, :1], y)
    assert one.get_support().tolist() == [True]
    assert RfeSelector(est, n_features=10).fit(X[:, :7], y).get_support().all()
    reduced = RfeSelector(est, n_features=3).fit(X[:, :7], y)
    assert reduced.get_support().sum() == 3
    assert reduced.get_support().tolist() == RFE(LogisticRegression(), n_features_to_select=3).fit(
        X[:, :7], y).get_support().tolist()  # the same elimination as scikit-learn's RFE


@parametrize_with_checks(
    [ConstantFilter(), UnivariateFilter(), CorrelationFilter(), MrmrSelector(n_features=2), LassoSelector(cv=2)]
)
def test_selectors_follow_scikit_learn_conventions(estimator, check):
    check(estimator)


def test_lasso_scorer_equals_scikit_learns_neg_log_loss():
    # LogisticRegressionCV rebuilds "neg_log_loss" with the fitted classes as labels, so a
    # validation fold holding one class is scored too; the fast scorer must give the same bits.
    from sklearn.metrics import log_loss, make_scorer

    from radscore.modeling.selection import _neg_log_loss

    reference = make_scorer(log_loss, greater_is_better=False, response_method="predict_proba",
                            labels=np.array([0, 1]))
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(6, 40))
        X = rng.normal(size=(n, 4)) * rng.choice([1.0, 30.0])
        y = (rng.random(n) < 0.4).astype(int)
        y[:2] = [0, 1]
        model = LogisticRegression(C=10 ** rng.uniform(-3, 3)).fit(X, y)
        X_val = rng.normal(size=(7, 4)) * rng.choice([1.0, 50.0, 1000.0])  # large: probabilities clipped
        y_val = (rng.random(7) < rng.choice([0.0, 0.5, 1.0])).astype(int)
        assert _neg_log_loss(model, X_val, y_val) == reference(model, X_val, y_val)


def test_univariate_pvalues_quiet_on_nearly_constant_columns(recwarn):
    X = np.column_stack([np.full(20, 1e6) + np.r_[np.zeros(19), 1e-9], np.arange(20.0)])
    univariate_pvalues(X, np.r_[np.zeros(10), np.ones(10)].astype(int))
    assert not [w for w in recwarn if "Precision loss" in str(w.message)]
