import dataclasses

import pandas as pd
import pytest

from radscore.analyses import AnalysisContext, patient_table
from radscore.config import LesionSettings, config_from_dict
from radscore.modeling.patients import patient_rows


def test_from_config_picks_the_settings(demo_ctx):
    cfg = config_from_dict({"seed": 9, "model": {"cv_folds": 4}, "endpoint": {"column": "dcb"},
                            "analyses": {"tps": {"high_cut": 40}}})
    ctx = AnalysisContext.from_config(cfg, manifest=demo_ctx.manifest, scores=demo_ctx.scores,
                                      cutoffs=demo_ctx.cutoffs, features=demo_ctx.features)
    assert ctx.settings is cfg.analyses and ctx.settings.tps.high_cut == 40
    assert ctx.endpoint.column == "dcb" and ctx.survival is cfg.survival and ctx.selection is cfg.selection
    assert ctx.cv_folds == 4 and ctx.seed == 9
    assert AnalysisContext.from_config(cfg, manifest=demo_ctx.manifest, scores=demo_ctx.scores, cutoffs={},
                                       features=demo_ctx.features, seed=1).seed == 1


def test_patient_table_regroups_by_cutoff(demo_ctx):
    pt = patient_table(demo_ctx, "baseline")
    assert pt["patient_id"].is_unique
    assert ((pt["radscore"] > -0.8) == (pt["group"] == "high")).all()
    assert (pt["site"] == "primary").all()
    assert {"ndb", "tps", "cd3_ct", "cohort"} <= set(pt.columns)


def test_a_radscore_at_the_cutoff_is_low(demo_ctx):
    # the models and the saved artifact call a patient high only strictly above the cutoff
    at = patient_table(demo_ctx, "baseline")["radscore"].iloc[0]
    pt = patient_table(dataclasses.replace(demo_ctx, cutoffs={"comb": float(at)}), "baseline")
    assert pt.loc[pt["radscore"] == at, "group"].tolist() == ["low"]
    assert (pt.loc[pt["radscore"] > at, "group"] == "high").all()


@pytest.mark.parametrize("rule", ["max", "mean"])
def test_patient_table_follows_the_lesion_rule(demo_ctx, rule):
    settings = demo_ctx.settings.model_copy(update={"lesions": LesionSettings(patient_rule=rule)})
    pt = patient_table(dataclasses.replace(demo_ctx, settings=settings), "baseline")
    want = patient_rows(demo_ctx.scores, rule=rule, timepoint="baseline")
    pd.testing.assert_series_equal(pt["radscore"], want["radscore"])
    assert ((pt["radscore"] > -0.8) == (pt["group"] == "high")).all()


def test_tables_are_indexed_by_patient_whatever_the_layout(demo_ctx):
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


def test_analyses_see_out_of_fold_training_scores(demo_ctx):
    # the pipeline's scores carry radscore_oof: downstream fits must not see in-sample scores
    s = demo_ctx.scores.copy()
    training = (s["cohort"] == "training").to_numpy()
    s["radscore_oof"] = s["radscore"]
    s.loc[training, "radscore_oof"] = -s.loc[training, "radscore"] + 0.25
    ctx = dataclasses.replace(demo_ctx, scores=s)
    assert (ctx.scores.loc[training, "radscore"] == s.loc[training, "radscore_oof"]).all()
    assert (ctx.scores.loc[~training, "radscore"] == s.loc[~training, "radscore"]).all()
    assert (ctx.scores["radscore_apparent"] == s["radscore"]).all()
    pt = patient_table(ctx, "baseline").set_index("patient_id")
    base = patient_rows(s[s["model"] == ctx.model]).set_index("patient_id")
    train_ids = base.index[base["cohort"] == "training"]
    assert (pt.loc[train_ids, "radscore"] == base.loc[train_ids, "radscore_oof"]).all()
    # where nested CV could not run (NaN) the apparent score stands in
    s.loc[training, "radscore_oof"] = float("nan")
    assert (dataclasses.replace(demo_ctx, scores=s).scores["radscore"] == s["radscore"]).all()
