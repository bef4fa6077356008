"""Each optional part says which pip extra to install when its package is missing.

The package is simulated missing with ``sys.modules[name] = None`` (``import`` then raises
ImportError), so these run whatever is installed.
"""

from __future__ import annotations

import importlib
import sys

import pandas as pd
import pytest

from radscore.errors import MissingExtraError


def test_serve_without_the_web_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    for name in ("radscore.web", "radscore.web.app"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(MissingExtraError, match=r"radscore serve needs the web extra .*pip install 'radscore\[web\]'"):
        importlib.import_module("radscore.web")


def test_scheduler_without_the_distributed_extra(monkeypatch):
    from radscore.runtime.executor import _DaskPool

    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(MissingExtraError, match=r"needs the distributed extra .*pip install 'radscore\[distributed\]'"):
        _DaskPool(None, "tcp://127.0.0.1:8786")  # type: ignore[arg-type]


def test_gsea_without_the_tme_extra(monkeypatch):
    from radscore.analyses import OptionalDependencyMissing
    from radscore.analyses.radiogenomics import ssgsea_scores

    monkeypatch.setitem(sys.modules, "gseapy", None)
    expression = pd.DataFrame({"g1": [1.0, 2.0], "g2": [2.0, 1.0]}, index=["p1", "p2"])
    with pytest.raises(OptionalDependencyMissing, match=r"gseapy: pip install 'radscore\[tme\]'"):
        ssgsea_scores(expression, {"set": ["g1", "g2"]}, min_size=1)


def test_deep_features_without_the_deep_extra(monkeypatch):
    from radscore.config import DeepFeatureSettings
    from radscore.features.deep import add_deep_features

    monkeypatch.setitem(sys.modules, "torch", None)
    features = pd.DataFrame({"patient_id": ["p1"], "timepoint": ["baseline"], "lesion_id": ["1"]})
    out, note, _ = add_deep_features(features, {}, DeepFeatureSettings(enabled=True), ["p1"])
    assert out.equals(features)
    assert "pip install 'radscore[deep]'" in note
