import dataclasses

import pandas as pd

from radscore.analyses import run_analyses
from radscore.report.sections import Section


def test_every_part_runs_on_the_demo(demo_ctx):
    secs = run_analyses(demo_ctx)
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


def test_a_failing_part_is_recorded_not_raised(demo_ctx, monkeypatch):
    import radscore.analyses.tps as tps

    def boom(ctx):
        raise ValueError("odd data")

    monkeypatch.setattr(tps, "run", boom)
    (sec,) = run_analyses(demo_ctx, ("tps",))
    assert sec.skipped == "failed: ValueError: odd data"


def test_config_errors_are_raised(demo_ctx):
    import pytest

    from radscore.config import config_from_dict
    from radscore.errors import ConfigError

    cfg = config_from_dict({"analyses": {"tps": {"low_cut": 60}}})  # default high_cut 50 < 60
    with pytest.raises(ConfigError):
        run_analyses(dataclasses.replace(demo_ctx, config=cfg), ("tps",))
