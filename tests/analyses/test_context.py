import pandas as pd
import pytest

from radscore.analyses import pick_lesion, patient_table
from radscore.errors import DataError

ROWS = pd.DataFrame({
    "patient_id": ["A", "A", "B", "B", "C"],
    "lesion_id": ["1", "2", "1", "2", "1"],
    "site": ["liver", "primary", "primary", "adrenal", "liver"],
    "radscore": [1.0, -1.0, 0.5, 2.5, 3.0],
    "probability": [0.7, 0.3, 0.6, 0.9, 0.95],
})


def test_primary_rule_picks_primary_else_first_lesion():
    out = pick_lesion(ROWS, "primary").set_index("patient_id")
    assert out.loc["A", "lesion_id"] == "2" and out.loc["A", "radscore"] == -1.0
    assert out.loc["B", "lesion_id"] == "1"
    assert out.loc["C", "radscore"] == 3.0


def test_max_and_mean_rules():
    mx = pick_lesion(ROWS, "max").set_index("patient_id")["radscore"]
    assert mx.to_dict() == {"A": 1.0, "B": 2.5, "C": 3.0}
    mean = pick_lesion(ROWS, "mean").set_index("patient_id")
    assert mean.loc["A", "radscore"] == pytest.approx(0.0)
    assert mean.loc["B", "probability"] == pytest.approx(0.75)


def test_unknown_rule_is_data_error():
    with pytest.raises(DataError):
        pick_lesion(ROWS, "median")


def test_patient_table_regroups_by_cutoff(demo_ctx):
    pt = patient_table(demo_ctx, "baseline")
    assert pt["patient_id"].is_unique
    assert ((pt["radscore"] >= -0.8) == (pt["group"] == "high")).all()
    assert (pt["site"] == "primary").all()
    assert {"ndb", "tps", "cd3_ct", "cohort"} <= set(pt.columns)


def test_tables_are_indexed_by_patient_whatever_the_layout(demo_ctx):
    import dataclasses

    expr = demo_ctx.expression
    genes_by_patients = expr.T  # patients as columns
    with_column = demo_ctx.cells.reset_index()
    ctx = dataclasses.replace(demo_ctx, expression=genes_by_patients, cells=with_column)
    pd.testing.assert_frame_equal(ctx.expression, expr, check_names=False)
    assert ctx.cells.index.name == "patient_id" and "CD8 T cells" in ctx.cells.columns
    from radscore.analyses import run_analyses

    bad = dataclasses.replace(demo_ctx, cells=pd.DataFrame({"x": [1.0]}, index=["nobody"]))
    (sec,) = run_analyses(bad, ("tme",))
    assert "no patient of the manifest is in the cells table" in sec.skipped
