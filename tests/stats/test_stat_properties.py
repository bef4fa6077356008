"""Invariants of the statistics, checked on generated data (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radscore.stats import delong_test, idi, net_benefit, nri, roc_auc_ci

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def labelled_scores(draw, min_size=6, max_size=60):
    n = draw(st.integers(min_size, max_size))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    # At least two of each class so the DeLong variance is defined.
    y[:4] = [0, 0, 1, 1]
    s = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))  # integers: many ties
    return np.array(y), np.array(s, float) / 20


@SETTINGS
@given(labelled_scores())
def test_reversed_score_gives_one_minus_auc(data):
    y, s = data
    a, b = roc_auc_ci(y, s), roc_auc_ci(y, -s)
    assert b.auc == pytest.approx(1 - a.auc, abs=1e-12)
    assert b.se == pytest.approx(a.se, abs=1e-12)
    assert b.p_value == pytest.approx(a.p_value, abs=1e-9)


@SETTINGS
@given(labelled_scores())
def test_auc_invariant_to_monotone_transform(data):
    y, s = data
    a, b = roc_auc_ci(y, s), roc_auc_ci(y, np.exp(3 * s) + 7)
    assert (b.auc, b.se) == pytest.approx((a.auc, a.se), abs=1e-12)
    assert 0 <= a.ci_low <= a.auc <= a.ci_high <= 1


@SETTINGS
@given(labelled_scores())
def test_delong_of_a_score_against_itself_is_null(data):
    y, s = data
    r = delong_test(y, s, s)
    assert r.diff == 0 and r.z == 0 and r.p_value == 1


@SETTINGS
@given(labelled_scores())
def test_delong_is_antisymmetric(data):
    y, s = data
    s2 = np.sin(7 * s) + s  # a different ranking
    ab, ba = delong_test(y, s, s2), delong_test(y, s2, s)
    assert ab.diff == pytest.approx(-ba.diff, abs=1e-12)
    assert ab.p_value == pytest.approx(ba.p_value, abs=1e-9)


@SETTINGS
@given(labelled_scores())
def test_nri_idi_of_model_against_itself_are_zero(data):
    y, s = data
    p = np.clip(s, 0, 1)
    assert nri(y, p, p).nri == 0 and nri(y, p, p).p_value == 1
    assert nri(y, p, p, cutoffs=[0.2, 0.5]).nri == 0
    assert idi(y, p, p).idi == 0 and idi(y, p, p).p_value == 1


@SETTINGS
@given(labelled_scores())
def test_nri_idi_swap_models_changes_sign(data):
    y, s = data
    p_old, p_new = np.clip(s, 0, 1), np.clip(s**2, 0, 1)
    assert nri(y, p_old, p_new).nri == pytest.approx(-nri(y, p_new, p_old).nri, abs=1e-12)
    assert idi(y, p_old, p_new).idi == pytest.approx(-idi(y, p_new, p_old).idi, abs=1e-12)


@SETTINGS
@given(labelled_scores(), st.floats(0.0, 0.95))
def test_net_benefit_bounds(data, pt):
    y, s = data
    p = np.clip(s, 0, 1)
    t = net_benefit(y, p, [pt]).table.iloc[0]
    assert t["model"] <= y.mean() + 1e-12  # never better than a perfect test
    perfect = net_benefit(y, y.astype(float), [pt]).table.iloc[0]  # risk 1 for events, 0 otherwise
    assert perfect["model"] == pytest.approx(y.mean(), abs=1e-12)
    everyone = net_benefit(y, np.ones_like(p), [pt]).table.iloc[0]
    assert everyone["model"] == pytest.approx(everyone["all"], abs=1e-12)
