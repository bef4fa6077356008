import dataclasses
import logging
import sys

import pandas as pd
import pytest

from radscore.analyses import PARTS, OptionalDependencyMissing, run_analyses
from radscore.analyses._shared import require
from radscore.errors import DataError
from radscore.report.sections import Section


def test_every_part_runs_on_the_demo(demo_ctx):
    secs = []
    for _, module in PARTS:
        result = module.compute(demo_ctx)
        assert dataclasses.is_dataclass(result) and result.__dataclass_params__.frozen
        got = result.sections()
        assert [(s.key, s.title) for s in got] == list(module.SECTIONS)
        secs += got
    assert all(isinstance(s, Section) for s in secs)
    keys = {s.key for s in secs}
    assert {"dynamic", "tps", "lesion_sites", "treatment_arms", "tme", "immunoscore", "nomogram_os",
            "nomogram_pfs", "serum_markers", "radiogenomics", "cell_abundance"} <= keys
    skipped = {s.key: s.skipped for s in secs if s.skipped}
    assert not skipped, skipped


def test_absent_inputs_are_skipped_with_reason(demo_ctx):
    m = demo_ctx.manifest.drop(columns=["tps", "cd3_ct", "treatment"])
    ctx = dataclasses.replace(demo_ctx, manifest=m, expression=None, cells=None,
                              scores=demo_ctx.scores[demo_ctx.scores["timepoint"] == "baseline"])
    secs = {s.key: s for s in run_analyses(ctx)}
    assert "follow-up" in secs["dynamic"].skipped
    assert "tps" in secs["tps"].skipped
    assert "cd3_ct" in secs["immunoscore"].skipped
    assert "expression" in secs["radiogenomics"].skipped
    assert "cells" in secs["tme"].skipped
    assert secs["nomogram_os"].skipped is None  # the nomogram runs without the immunoscore


def test_tables_are_deterministic(demo_ctx):
    parts = ("tps", "nomogram", "radiogenomics")
    a = run_analyses(demo_ctx, parts)
    b = run_analyses(demo_ctx, parts)
    for sa, sb in zip(a, b):
        for k in sa.tables:
            pd.testing.assert_frame_equal(sa.tables[k], sb.tables[k])


def _boom(ctx):
    raise ValueError("odd data")


def test_a_failing_part_is_recorded_unless_strict(demo_ctx, monkeypatch, caplog):
    import radscore.analyses.lesions as lesions
    import radscore.analyses.tps as tps

    monkeypatch.setattr(tps, "compute", _boom)
    with caplog.at_level(logging.ERROR, logger="radscore.analyses"):
        (sec,) = run_analyses(demo_ctx, ("tps",), strict=False)
    assert sec.skipped.startswith("failed: unexpected error ValueError: odd data (at test_run_analyses.py:")
    # one line on the terminal, no traceback: the run goes on and the section says why
    assert [r.levelno for r in caplog.records] == [logging.ERROR] and not caplog.records[0].exc_info
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="radscore.analyses"):  # --verbose
        run_analyses(demo_ctx, ("tps",), strict=False)
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)
    with pytest.raises(ValueError, match="odd data"):
        run_analyses(demo_ctx, ("tps",), strict=True)
    with pytest.raises(ValueError, match="odd data"):  # RADSCORE_STRICT=1, set for every test
        run_analyses(demo_ctx, ("tps",))
    monkeypatch.setenv("RADSCORE_STRICT", "0")
    (sec,) = run_analyses(demo_ctx, ("tps",))
    assert "ValueError: odd data" in sec.skipped
    # a part with several sections keeps all of them, each saying why
    monkeypatch.setattr(lesions, "compute", _boom)
    secs = run_analyses(demo_ctx, ("lesions",))
    assert [s.key for s in secs] == ["lesion_sites", "treatment_arms"]
    assert all("odd data" in s.skipped for s in secs)


@pytest.mark.parametrize("exc, reason", [
    (DataError("one outcome class.", fix="add patients."), "one outcome class. Fix: add patients."),
    (OptionalDependencyMissing("torch", "deep"), "needs torch: pip install 'radscore[deep]'"),
])
def test_expected_errors_are_skipped_even_when_strict(demo_ctx, monkeypatch, exc, reason):
    import radscore.analyses.tps as tps

    def fail(ctx):
        raise exc

    monkeypatch.setattr(tps, "compute", fail)
    (sec,) = run_analyses(demo_ctx, ("tps",), strict=True)
    assert sec.skipped == reason


def test_require_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(OptionalDependencyMissing, match=r"needs torch: pip install 'radscore\[deep\]'"):
        with require("torch", extra="deep"):
            import torch  # noqa: F401
    monkeypatch.setitem(sys.modules, "gseapy", None)
    with pytest.raises(OptionalDependencyMissing, match="needs gseapy: pip install gseapy"):
        with require("gseapy"):
            import gseapy  # noqa: F401


def test_unknown_part_is_an_error(demo_ctx):
    with pytest.raises(ValueError, match="nomograms"):
        run_analyses(demo_ctx, ("nomograms",))


def test_config_errors_are_raised(demo_ctx):
    from radscore.config import config_from_dict
    from radscore.errors import ConfigError

    cfg = config_from_dict({"analyses": {"tps": {"low_cut": 60}}})  # default high_cut 50 < 60
    with pytest.raises(ConfigError):
        run_analyses(dataclasses.replace(demo_ctx, settings=cfg.analyses), ("tps",), strict=False)
