"""NRI / IDI against R Hmisc improveProb (reference/stats/nri_idi_Hmisc)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from radscore.errors import DataError
from radscore.stats import idi, nri

TOL = 1e-8


@pytest.fixture(scope="module")
def probs(reference_dir):
    folder = reference_dir / "stats" / "nri_idi_Hmisc"
    return pd.read_csv(folder / "nri_idi_probs.csv"), json.loads((folder / "expected.json").read_text())


def _check(res, e):
    est = res.nri if hasattr(res, "nri") else res.idi
    assert est == pytest.approx(e["nri"] if "nri" in e else e["idi"], abs=TOL)
    assert res.se == pytest.approx(e["se"], abs=TOL)
    assert res.z == pytest.approx(e["z"], rel=TOL)
    assert res.p_value == pytest.approx(2 * sps.norm.sf(abs(e["z"])), rel=1e-6)


@pytest.mark.reference
def test_continuous_nri(probs):
    d, exp = probs
    res = nri(d["outcome"], d["p_old"], d["p_new"])
    assert res.kind == "continuous"
    _check(res, exp["continuous_nri"])


@pytest.mark.reference
def test_idi(probs):
    d, exp = probs
    _check(idi(d["outcome"], d["p_old"], d["p_new"]), exp["idi"])


@pytest.mark.reference
def test_categorical_nri(probs):
    d, exp = probs
    res = nri(d["outcome"], d["p_old"], d["p_new"], cutoffs=[0, 0.1, 0.3, 1])
    assert res.kind == "categorical" and res.cutoffs == (0.1, 0.3)
    _check(res, exp["categorical_nri_cutoffs_0_0.1_0.3_1"])


def test_category_boundary_is_left_closed():
    y = np.array([1, 0, 1, 0])
    old = np.array([0.05, 0.05, 0.2, 0.2])
    new = np.array([0.1, 0.1, 0.2, 0.2])  # 0.1 belongs to [0.1, 0.3): both move up
    r = nri(y, old, new, cutoffs=[0.1, 0.3])
    assert (r.n_up_events, r.n_up_nonevents) == (1, 1)
    assert r.nri == pytest.approx(0.5 - 0.5)


def test_errors():
    with pytest.raises(DataError, match="strictly between"):
        nri([0, 1], [0.1, 0.2], [0.2, 0.3], cutoffs=[0, 1])
    with pytest.raises(DataError, match="prob_new"):
        idi([0, 1, 0], [0.1, 0.2, 0.3], [0.1, 0.2])
