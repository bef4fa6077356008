import numpy as np
import pandas as pd
import pytest

from radscore.errors import DataError, ManifestError
from radscore.modeling.split import split_cohort


def _patients(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(n)], "ndb": rng.integers(0, 2, n)})


def test_split_is_deterministic_stratified_and_order_free():
    df = _patients()
    a = split_cohort(df, "ndb", 0.3, seed=7, stratify=True)
    b = split_cohort(df.sample(frac=1, random_state=1), "ndb", 0.3, seed=7, stratify=True)
    pd.testing.assert_series_equal(a, b)
    assert a.index.is_unique and set(a.index) == set(df.patient_id)
    assert (a == "testing").sum() == 30
    prev = df.set_index("patient_id")["ndb"]
    assert abs(prev[a == "testing"].mean() - prev[a == "training"].mean()) < 0.05
    c = split_cohort(df, "ndb", 0.3, seed=8, stratify=True)
    assert not c.equals(a)


def test_split_rejects_duplicates_and_single_class():
    df = _patients(10)
    with pytest.raises(ManifestError, match="more than once"):
        split_cohort(pd.concat([df, df.iloc[:1]]), "ndb", 0.3, 1, True)
    df["ndb"] = 1
    with pytest.raises(DataError, match="each class"):
        split_cohort(df, "ndb", 0.3, 1, True)
    assert len(split_cohort(df, "ndb", 0.3, 1, False)) == 10
