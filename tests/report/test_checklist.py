"""Reporting checklists (TRIPOD+AI, CLEAR, METRICS, IBSI): items as published, statuses from the records.

The published numbering and the METRICS weights are typed here from the papers (outside
references): TRIPOD+AI, Collins et al. BMJ 2024;385:e078378 (27 main items, 52 sub-items);
CLEAR, Kocak et al. Insights Imaging 2023;14:75 (58 items); METRICS, Kocak et al. Insights
Imaging 2024;15:8, Table 1 and the authors' calculator (metricsscore.github.io, v1.0).
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from radscore.config import config_from_dict
from radscore.modeling.train import ModelStageRecord
from radscore.report.checklist import (AUTHOR, CHECKLISTS, STATUSES, checklist_table, metrics_score,
                                       reporting_checklists, status_counts)
from radscore.report.checklist._rules import RunRecord
from radscore.report.sections import Section
from radscore.runtime.provenance import Provenance

TRIPOD_AI_ITEMS = ["1", "2", "3a", "3b", "3c", "4", "5a", "5b", "6a", "6b", "6c", "7", "8a", "8b", "8c", "9a", "9b",
                   "9c", "10", "11", "12a", "12b", "12c", "12d", "12e", "12f", "12g", "13", "14", "15", "16", "17",
                   "18a", "18b", "18c", "18d", "18e", "18f", "19", "20a", "20b", "20c", "21", "22", "23a", "23b", "24",
                   "25", "26", "27a", "27b", "27c"]
#: METRICS Table 1: item -> (category, weight).
METRICS_WEIGHTS = {
    1: ("Study design", 0.0368), 2: ("Study design", 0.0735), 3: ("Study design", 0.0919),
    4: ("Imaging data", 0.0438), 5: ("Imaging data", 0.0292), 6: ("Imaging data", 0.0438), 7: ("Imaging data", 0.0292),
    8: ("Segmentation", 0.0337), 9: ("Segmentation", 0.0225), 10: ("Segmentation", 0.0112),
    11: ("Image processing and feature extraction", 0.0622), 12: ("Image processing and feature extraction", 0.0311),
    13: ("Image processing and feature extraction", 0.0415),
    14: ("Feature processing", 0.0200), 15: ("Feature processing", 0.0200), 16: ("Feature processing", 0.0300),
    17: ("Feature processing", 0.0200),
    18: ("Preparation for modelling", 0.0599), 19: ("Preparation for modelling", 0.0300),
    20: ("Metrics and comparison", 0.0352), 21: ("Metrics and comparison", 0.0234),
    22: ("Metrics and comparison", 0.0176), 23: ("Metrics and comparison", 0.0117),
    24: ("Metrics and comparison", 0.0293), 25: ("Metrics and comparison", 0.0176),
    26: ("Testing", 0.0375), 27: ("Testing", 0.0749),
    28: ("Open science", 0.0075), 29: ("Open science", 0.0075), 30: ("Open science", 0.0075),
}
#: The abstract's order of the categories by weight, most important first.
METRICS_CATEGORY_ORDER = ["Study design", "Imaging data", "Image processing and feature extraction",
                          "Metrics and comparison", "Testing", "Feature processing", "Preparation for modelling",
                          "Segmentation", "Open science"]


def _tables(config, provenance, models, sections=(), qc=None) -> dict[str, pd.DataFrame]:
    return {k: t.set_index("item") for k, t in reporting_checklists(config, provenance, models, list(sections),
                                                                      qc).items()}


def _status(tables, checklist: str, item: str) -> str:
    return tables[checklist].loc[item, "status"]


def _with_cohorts(models: ModelStageRecord, extra: dict[str, str]) -> ModelStageRecord:
    return dataclasses.replace(models, cohorts={**models.cohorts, **extra})


def _auc_by_cohort(cohorts: list[str]) -> Section:
    """A metrics table in the pipeline's long form (metric, estimate, ci_low, ci_high per cohort)."""
    rows = [{"model": "COMB-Radscore", "cohort": c, "n": 20, "n_positive": 8, "metric": "ROC AUC", "estimate": 0.7,
             "ci_low": 0.55, "ci_high": 0.85, "p": 0.01} for c in cohorts]
    return Section("discrimination", "Discrimination", tables={"metrics": pd.DataFrame(rows)})


# --------------------------------------------------------------------------- the items as published

def test_items_are_the_published_ones():
    assert [i.number for i in CHECKLISTS["clear"].items] == [str(n) for n in range(1, 59)]
    tripod = [i.number for i in CHECKLISTS["tripod_ai"].items]
    assert tripod == TRIPOD_AI_ITEMS and len(tripod) == 52
    assert len({n.rstrip("abcdefg") for n in tripod}) == 27
    metrics = CHECKLISTS["metrics"].items
    assert [int(i.number) for i in metrics] == list(range(1, 31))
    assert {int(i.number): (i.section, i.weight) for i in metrics} == METRICS_WEIGHTS
    # short paraphrased titles, every one distinct within its checklist
    for c in CHECKLISTS.values():
        titles = [i.title for i in c.items]
        assert len(set(titles)) == len(titles) and max(map(len, titles)) <= 80, c.name


def test_metrics_weights_sum_to_one_in_the_papers_category_order():
    assert sum(w for _, w in METRICS_WEIGHTS.values()) == pytest.approx(1.0, abs=1e-9)
    by_category: dict[str, float] = {}
    for category, w in METRICS_WEIGHTS.values():
        by_category[category] = by_category.get(category, 0.0) + w
    weights = [by_category[c] for c in METRICS_CATEGORY_ORDER]
    assert all(a >= b - 1e-4 for a, b in zip(weights, weights[1:])), weights  # ties within the table's rounding
    assert by_category["Study design"] == pytest.approx(0.2022, abs=1e-9)


# --------------------------------------------------------------------------- the METRICS score

def _metrics_table(yes: set[int], na: set[int] = frozenset(), partly: set[int] = frozenset()) -> pd.DataFrame:
    status = {n: "covered" if n in yes else "not applicable" if n in na else "partly covered" if n in partly
              else "not covered" for n in METRICS_WEIGHTS}
    return pd.DataFrame({"item": [str(n) for n in status], "status": list(status.values()),
                         "weight": [METRICS_WEIGHTS[n][1] for n in status]})


def test_metrics_score_as_the_tool_computes_it():
    # yes over applicable weights: the conditions' items (9, 17) count in neither; partly counts as no
    s = metrics_score(_metrics_table({1, 2, 3, 27}, na={9, 17}, partly={26}))
    expected = 100 * (0.0368 + 0.0735 + 0.0919 + 0.0749) / (1 - 0.0225 - 0.0200)
    assert s.score == round(expected, 1) == 28.9 and s.category == "low"
    assert metrics_score(_metrics_table(set(METRICS_WEIGHTS))).score == 100.0
    assert metrics_score(_metrics_table(set(METRICS_WEIGHTS))).category == "excellent"
    assert metrics_score(_metrics_table(set())).category == "very low"
    # the tool's bands: [0, 20) very low, [20, 40) low, [40, 60) moderate, [60, 80) good, [80, 100] excellent
    study_design_only = metrics_score(_metrics_table({1, 2, 3}))
    assert study_design_only.score == 20.2 and study_design_only.category == "low"


def test_metrics_score_of_the_filled_table(config, provenance, models, sections):
    table = reporting_checklists(config, provenance, models, sections)["metrics"]
    yes = {int(n) for n in table.loc[table["status"] == "covered", "item"]}
    na = {int(n) for n in table.loc[table["status"] == "not applicable", "item"]}
    assert na == {9, 17}  # masks come from the manifest; no end-to-end deep learning
    expected = 100 * sum(METRICS_WEIGHTS[n][1] for n in yes) / sum(w for n, (_, w) in METRICS_WEIGHTS.items()
                                                                   if n not in na)
    assert metrics_score(table).score == round(expected, 1)


# --------------------------------------------------------------------------- statuses from the records

def test_tables_are_complete_and_consistent(config, provenance, models, sections):
    qc = pd.DataFrame({"patient_id": ["P9"], "severity": ["excluded"], "problem": ["mask empty"]})
    for name, table in reporting_checklists(config, provenance, models, sections, qc).items():
        assert list(table.columns[:6]) == ["item", "section", "title", "status", "where", "evidence"], name
        assert set(table["status"]) <= set(STATUSES)
        counts = status_counts(table)
        assert sum(counts[s] for s in STATUSES) == len(table) == len(CHECKLISTS[name].items)
        author = table["evidence"].str.startswith(AUTHOR)
        assert counts["author"] == author.sum() and (table.loc[author, "status"] == "not covered").all()
        # a covered or partly covered item says where; a not covered one is covered nowhere
        shown = table["status"].isin(["covered", "partly covered"])
        assert (table.loc[shown, "where"] != "").all(), table.loc[shown & (table["where"] == ""), "item"].tolist()
        assert (table.loc[~shown, "where"] == "").all()
        assert table["where"].str.split("; ").explode().loc[lambda w: w != ""].str.startswith("#").all()
    # the run cannot know ethics approval, funding or the discussion
    tables = _tables(config, provenance, models, sections)
    for checklist, item in (("clear", "8"), ("tripod_ai", "17"), ("tripod_ai", "18a"), ("clear", "49")):
        assert tables[checklist].loc[item, "evidence"].startswith(AUTHOR), (checklist, item)


def test_external_validation_follows_the_cohorts(config, provenance, models, sections):
    """The fixture has training and testing patients only: external testing is not covered."""
    before = _tables(config, provenance, models, sections)
    assert _status(before, "clear", "38") == "partly covered"  # internal only
    assert _status(before, "metrics", "26") == "covered" and _status(before, "metrics", "27") == "not covered"
    assert _status(before, "metrics", "4") == "not covered"
    # an external cohort recorded, but no AUC reported for it: partly covered
    ext = _with_cohorts(models, {"P4": "external_1"})
    with_cohort = _tables(config, provenance, ext, [_auc_by_cohort(["testing"])])
    assert _status(with_cohort, "metrics", "27") == "partly covered"
    assert _status(with_cohort, "metrics", "4") == "partly covered"
    # ... and with its AUC and CI: covered, and the score rises by item 27's weight
    after = _tables(config, provenance, ext, [_auc_by_cohort(["testing", "external_1"])])
    assert _status(after, "clear", "38") == "covered" and _status(after, "metrics", "27") == "covered"
    assert "external_1" in after["metrics"].loc["27", "evidence"]
    assert after["metrics"].loc["27", "where"] == "#discrimination_metrics"
    gain = metrics_score(after["metrics"].reset_index()).weight_yes \
        - metrics_score(with_cohort["metrics"].reset_index()).weight_yes
    assert gain == pytest.approx(0.0749)


def _no_robustness(config, provenance, models, sections):
    return config_from_dict({"robustness": {"icc_source": "off"}}), provenance, models, sections


def _no_models(config, provenance, models, sections):
    return config, provenance, None, sections


def _no_sections(config, provenance, models, sections):
    return config, provenance, models, []


def _no_split(config, provenance, models, sections):
    return config, dataclasses.replace(provenance, stages=()), None, sections


def _skipped_baseline(config, provenance, models, sections):
    return config, provenance, models, sections + [Section("baseline", "Table 1", skipped="no clinical variables")]


@pytest.mark.parametrize("checklist, item, remove, after", [
    ("clear", "31", _no_robustness, "not covered"), ("metrics", "14", _no_robustness, "not covered"),
    ("ibsi", "4", None, "not covered"), ("clear", "22", None, "not covered"),
    ("clear", "37", _no_models, "not covered"), ("tripod_ai", "15", _no_models, "not covered"),
    ("metrics", "30", _no_models, "not covered"), ("clear", "34", _no_models, "partly covered"),
    ("clear", "40", _no_sections, "not covered"), ("metrics", "21", _no_sections, "not covered"),
    ("tripod_ai", "12e", _no_sections, "not covered"),
    ("metrics", "26", _no_split, "not covered"), ("clear", "15", _no_split, "partly covered"),
])
def test_a_rule_flips_when_its_fact_is_removed(config, provenance, models, sections, checklist, item, remove, after):
    """Removing the recorded fact turns the item not (or, when other parts stay recorded, partly) covered."""
    before = _status(_tables(config, provenance, models, sections), checklist, item)
    assert before in ("covered", "partly covered")
    if remove is None:  # the resample steps lose their interpolators
        cut = dataclasses.replace(provenance, scans=tuple(dataclasses.replace(sp, steps=tuple(
            s for s in sp.steps if s.name != "resample")) for sp in provenance.scans))
        args = config, cut, models, sections
    else:
        args = remove(config, provenance, models, sections)
    assert _status(_tables(*args), checklist, item) == after


def test_baseline_items_follow_table_1(config, provenance, models, sections):
    ran = sections + [Section("baseline", "Table 1", tables={"table 1": pd.DataFrame({"variable": ["age"]})})]
    assert _status(_tables(config, provenance, models, ran), "clear", "44") == "covered"
    assert _tables(config, provenance, models, ran)["clear"].loc["44", "where"] == "#baseline"
    skipped = _tables(*_skipped_baseline(config, provenance, models, sections))
    assert _status(skipped, "clear", "44") == "not covered"
    assert "no clinical variables" in skipped["clear"].loc["44", "evidence"]


def test_dimensionality_follows_the_training_size(config, provenance, models, sections):
    """METRICS 16: at least 10 training patients per selected feature (COMB selects 2)."""
    small = _tables(config, provenance, models, sections)
    assert _status(small, "metrics", "16") == "not covered" and "2 training patients" in small["metrics"].loc["16",
                                                                                                              "evidence"]
    many = _with_cohorts(models, {f"T{i}": "training" for i in range(18)})  # 20 training patients, 10 per feature
    assert _status(_tables(config, provenance, many, sections), "metrics", "16") == "covered"


def test_ibsi_items_follow_every_scan(config, provenance, models):
    tables = _tables(config, provenance, models)
    assert _status(tables, "ibsi", "3") == "covered"  # SUV conversion
    lacking = dataclasses.replace(provenance, scans=tuple(
        dataclasses.replace(sp, steps=tuple(dataclasses.replace(s, result={k: v for k, v in s.result.items()
                                                                           if k != "suv"})
                                            if s.name == "load_pet" else s for s in sp.steps))
        if sp.scan == "P1/baseline/1" else sp for sp in provenance.scans))
    row = _tables(config, lacking, models)["ibsi"].loc["3"]
    assert row["status"] == "not covered" and "P1/baseline/1" in row["evidence"]
    for item in ("1", "7", "11"):  # acquisition, re-segmentation, texture aggregation: nothing records them
        assert _status(tables, "ibsi", item) == "not covered", item
    assert "centre-aligned (IBSI)" in tables["ibsi"].loc["4", "evidence"]


def test_partly_covered_combines_what_is_and_is_not_recorded(config, provenance, models, sections):
    # CLEAR 16: processing is recorded, acquisition is not
    row = _tables(config, provenance, models, sections)["clear"].loc["16"]
    assert row["status"] == "partly covered" and "lacks acquisition" in row["evidence"]
    assert "#methods_preprocessing" in row["where"]


def test_empty_record(config):
    """Without scans, models or sections only the items that the settings alone cover remain covered."""
    tables = _tables(config, Provenance(), None)
    assert set(tables["clear"].index[tables["clear"]["status"] == "covered"]) == {"23", "24", "26"}
    assert set(tables["metrics"].index[tables["metrics"]["status"] == "covered"]) == set()
    assert set(tables["tripod_ai"].index[tables["tripod_ai"]["status"] == "covered"]) == {"9b"}
    assert _status(tables, "ibsi", "2") == "not covered"


def test_a_rule_must_return_a_known_status(config, provenance):
    from radscore.report.checklist import Checklist
    from radscore.report.checklist._rules import Finding, Item

    bad = Checklist("bad", "Bad", "-", (Item("1", "S", "T", lambda r: Finding("done", "")),))
    with pytest.raises(ValueError, match="status 'done'"):
        checklist_table(bad, RunRecord.of(config, provenance, None, []))
