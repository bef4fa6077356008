import numpy as np
import pandas as pd
import pytest

from radscore.config import config_from_dict
from radscore.errors import DataError
from radscore.modeling.artifact import load_model
from radscore.modeling.split import split_cohort
from radscore.modeling.icc import icc_filter
from radscore.modeling.train import train_radscores


def _study(n=90, p=60, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    y = pd.Series(rng.integers(0, 2, n), index=ids)
    cols, blocks = [], []
    for img in ("pet", "ct", "petct"):
        block = rng.normal(size=(n, p))
        block[:, :3] += 1.2 * y.to_numpy()[:, None]
        blocks.append(block)
        cols += [f"{img}_tumor_original_f{j}" for j in range(p)]
    X = pd.DataFrame(np.hstack(blocks), index=ids, columns=cols)
    # second segmentation: most features reproducible, the last ten of each image are not
    X2 = X + rng.normal(scale=0.1, size=X.shape)
    bad = [c for c in cols if int(c.rsplit("f", 1)[1]) >= p - 10]
    X2[bad] = rng.normal(size=(n, len(bad)))
    return X, X2, y


def test_train_radscores_end_to_end(tmp_path):
    X, X2, y = _study()
    cfg = config_from_dict({"seed": 3, "model": {"grid": {"max_depth": [2], "n_estimators": [40]}, "cv_folds": 5,
                                                 "nested_cv_folds": 3}})
    cohort = split_cohort(pd.DataFrame({"patient_id": y.index, "ndb": y.to_numpy()}), "ndb", 0.3, 3, True)
    icc = icc_filter([X, X2], threshold=cfg.robustness.icc_threshold, patients=list(cohort.index[cohort == "training"]))
    res = train_radscores(icc.transform(X), y, cohort, selection=cfg.selection, model=cfg.model, seed=cfg.seed,
                          models_dir=tmp_path / "models", scan=cfg.scan)
    assert list(res.summary.model) == ["pet", "ct", "petct", "comb"]
    assert (res.summary.test_auc > 0.7).all(), res.summary
    assert res.summary.nested_cv_auc.between(0.6, 1).all()
    assert len(res.scores) == 4 * len(X)
    assert set(res.scores.cohort) == {"training", "testing"}
    dropped = set(icc.summary.feature[~icc.summary.kept])
    assert len(dropped) == 30
    for m in res.models.values():
        assert not dropped & set(m.selected_features_)
        assert all(f.startswith(("pet_", "ct_", "petct_")) for f in m.selected_features_)
    assert all(f.startswith("pet_") for f in res.models["pet"].selected_features_)
    loaded = load_model(tmp_path / "models" / "comb")
    scored = loaded.score(icc.transform(X))
    assert res.record.model("comb").selected == tuple(res.models["comb"].selected_features_)
    assert res.record.cutoffs["comb"] == loaded.cutoff
    want = res.scores[res.scores.model == "comb"].radscore.to_numpy()
    np.testing.assert_array_equal(scored.radscore.to_numpy(), want)


def test_train_radscores_rejects_missing_cohort():
    X, _, y = _study(n=30, p=10)
    cfg = config_from_dict({"model": {"models": ["pet"]}})
    with pytest.raises(DataError, match="without cohort"):
        train_radscores(X, y, pd.Series("training", index=y.index[:-1]), selection=cfg.selection, model=cfg.model,
                        seed=cfg.seed)
