import dataclasses
import json

import numpy as np
import pandas as pd
import pingouin
import pytest

from radscore.errors import DataError
from radscore.modeling.icc import icc, icc_features, icc_filter


@pytest.fixture
def shrout_fleiss(reference_dir):
    folder = reference_dir / "stats" / "icc_psych_shrout_fleiss"
    data = pd.read_csv(folder / "shrout_fleiss.csv").set_index("target")
    return data, json.loads((folder / "expected.json").read_text())


@pytest.mark.parametrize("kind", ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"])
def test_icc_matches_r_psych(shrout_fleiss, kind):
    data, expected = shrout_fleiss
    ref = expected[kind]
    tol = expected["tolerance"]
    res = icc(data.to_numpy(), kind.lower())
    assert res.icc == pytest.approx(ref["icc"], abs=tol)
    if "F" in ref:
        assert res.F == pytest.approx(ref["F"], abs=tol)
        assert res.p == pytest.approx(ref["p"], abs=tol)
        assert res.lower == pytest.approx(ref["lower95"], abs=tol)
        assert res.upper == pytest.approx(ref["upper95"], abs=tol)
    assert res.summary.shape[0] == 1


def test_vectorised_icc_matches_pingouin():
    rng = np.random.default_rng(5)
    n, p = 25, 6
    truth = rng.normal(size=(n, p)) * np.array([1, 1, 2, 0.5, 3, 1])
    seg1 = pd.DataFrame(truth + rng.normal(scale=0.5, size=(n, p)), columns=[f"f{j}" for j in range(p)])
    seg2 = pd.DataFrame(truth + 0.4 + rng.normal(scale=0.5, size=(n, p)), columns=seg1.columns)
    for kind, label in [("icc2", "ICC(A,1)"), ("icc3", "ICC(C,1)"), ("icc1", "ICC(1,1)")]:
        ours = icc_features([seg1, seg2], kind)
        for col in seg1.columns:
            long = pd.DataFrame({"target": np.tile(np.arange(n), 2), "rater": np.repeat([1, 2], n),
                                 "value": np.r_[seg1[col], seg2[col]]})
            ref = pingouin.intraclass_corr(long, targets="target", raters="rater", ratings="value")
            assert ours[col] == pytest.approx(ref.set_index("Type").loc[label, "ICC"], abs=1e-10)


def test_icc_filter_drops_unreliable_features_on_training_only():
    rng = np.random.default_rng(0)
    n = 60
    truth = rng.normal(size=(n, 3))
    ids = [f"P{i}" for i in range(n)]
    seg1 = pd.DataFrame({"stable": truth[:, 0], "noisy": truth[:, 1], "shifted": truth[:, 2], "const": 1.0}, index=ids)
    seg2 = pd.DataFrame({"stable": truth[:, 0] + rng.normal(scale=0.1, size=n),
                         "noisy": rng.normal(size=n),
                         "shifted": truth[:, 2] + 3.0,  # perfect consistency, poor agreement
                         "const": 1.0}, index=ids)
    f2 = icc_filter([seg1, seg2], threshold=0.75, kind="icc2", patients=ids[:40])
    assert f2.kept == ("stable",)
    assert np.isnan(f2.icc["const"])
    assert f2.n_patients == 40 and f2.threshold == 0.75 and f2.kind == "icc2"
    f3 = icc_filter([seg1, seg2], threshold=0.75, kind="icc3", patients=ids[:40])
    assert f3.kept == ("stable", "shifted")
    assert list(f3.transform(seg1).columns) == ["stable", "shifted"]
    # only the named patients enter the ICC: corrupting the others changes nothing
    seg2_bad = seg2.copy()
    seg2_bad.iloc[40:] = 99.0
    g = icc_filter([seg1, seg2_bad], kind="icc2", patients=ids[:40])
    pd.testing.assert_series_equal(g.icc, f2.icc)
    assert f2.summary.kept.sum() == 1
    assert list(f2.summary.columns) == ["feature", "icc", "n", "kept"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f2.threshold = 0.5  # type: ignore[misc]


def test_icc_input_errors():
    with pytest.raises(DataError):
        icc(np.ones((1, 3)))
    with pytest.raises(DataError):
        icc(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(DataError):
        icc_features([pd.DataFrame({"a": [1.0, 2.0]})])


def test_a_feature_missing_for_some_patients_gets_its_icc_on_those_that_have_it():
    # e.g. a texture feature undefined on a tiny core VOI: it must not silently disappear
    rng = np.random.default_rng(3)
    n = 40
    truth = rng.normal(size=n)
    ids = [f"P{i}" for i in range(n)]
    seg1 = pd.DataFrame({"full": truth, "gappy": truth}, index=ids)
    seg2 = pd.DataFrame({"full": truth + rng.normal(scale=0.2, size=n),
                         "gappy": truth + rng.normal(scale=0.2, size=n)}, index=ids)
    seg1.loc[ids[:5], "gappy"] = np.nan  # missing in one table
    seg2.loc[ids[5:9], "gappy"] = np.nan  # and in the other
    f = icc_filter([seg1, seg2], threshold=0.75)
    assert f.n_per_feature.to_dict() == {"full": 40, "gappy": 31}
    assert f.summary.set_index("feature").loc["gappy", "n"] == 31
    assert "gappy" in f.kept
    # equal to the ICC of the complete cases alone (the oracle: the plain function on them)
    have = ids[9:]
    want = icc(np.c_[seg1.loc[have, "gappy"], seg2.loc[have, "gappy"]], "icc2").icc
    assert f.icc["gappy"] == pytest.approx(want, abs=1e-12)
