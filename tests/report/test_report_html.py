"""The study report: sections laid out, CSV/PNG/SVG beside it, methods record and its checklist."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from radscore.config import config_from_dict
from radscore.report.figures import plot_roc
from radscore.report.html import ReportInputs, software_versions, write_report
from radscore.report.methods import CHECKLIST, methods_paragraphs, parameter_record, reporting_checklist
from radscore.report.sections import Section


def _config() -> dict:
    return config_from_dict({"name": "t", "manifest": "m.csv", "endpoint": {"column": "y"}}).to_dict()


STATE = {"selected": {"comb": ["pet_tumor_a", "ct_ring_b"]}, "best_params": {"comb": {"max_depth": 2}},
         "cutoffs": {"comb": 0.25}, "cv_auc": {"comb": 0.71}}
RECORDS = {"P1/baseline/1": {"resampling": {"grid_alignment": "centre-aligned (IBSI)"}, "vois": {"kept": ["tumor"]}}}


def _sections():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20), np.ones(20)]
    fig = plot_roc(y, y + rng.normal(0, 0.8, 40)).figure
    auc = pd.DataFrame({"model": ["COMB"], "AUC": [0.8], "CI low": [0.7], "CI high": [0.9]})
    return [Section("discrimination", "Discrimination", "First paragraph.\n\nSecond <b>paragraph</b>.",
                    tables={"auc": auc}, figures={"roc": fig}),
            Section("tps", "TPS", skipped="no tps column")]


def test_checklist_follows_the_record():
    params = parameter_record(_config(), STATE, RECORDS, software_versions())
    full = reporting_checklist(params, _sections()).set_index("item")
    assert len(full) == len(CHECKLIST)
    assert full.loc["Random seed(s)", "covered"] == "covered"
    assert full.loc["Discrimination with uncertainty (AUC and 95 % CI)", "covered"] == "covered"
    assert full.loc["Image acquisition and reconstruction parameters", "covered"] == "not covered"
    # remove items from the record: coverage must follow
    del params["Study"]["seed"]
    params["Preprocess"].pop("mask_interpolation")
    less = reporting_checklist(params, _sections()[1:]).set_index("item")
    assert less.loc["Random seed(s)", "covered"] == "not covered"
    assert less.loc["ROI (mask) interpolation", "covered"] == "not covered"
    assert less.loc["Discrimination with uncertainty (AUC and 95 % CI)", "covered"] == "not covered"
    assert "mask_interpolation" in less.loc["ROI (mask) interpolation", "evidence"]
    # a record that says what was missing turns the item covered
    params["Study"]["ethics"] = "IRB 2024-17"
    assert reporting_checklist(params, []).set_index("item").loc[
        "Ethics approval and data availability statement", "covered"] == "covered"


def test_methods_text_comes_from_the_record():
    params = parameter_record(_config(), STATE, RECORDS, {"radscore": "9.9", "pyradiomics-bhklab": "3.1.4"})
    text = " ".join(p for _, p in methods_paragraphs(params))
    assert "radscore 9.9" in text and "PyRadiomics 3.1.4" in text
    assert f"{_config()['voi']['ring_mm']} mm" in text
    assert params["Cutoffs and cross-validated AUC (training only)"]["COMB-Radscore"].startswith("cutoff 0.2500")


def test_write_report(tmp_path):
    params = parameter_record(_config(), STATE, RECORDS, software_versions())
    qc = pd.DataFrame({"patient_id": ["P9"], "severity": ["excluded"], "problem": ["mask empty"]})
    inputs = ReportInputs(title="T <study>", summary={"Endpoint": "NDB", "Recommended model": "COMB"},
                          sections=_sections(), qc=qc, parameters=params)
    path = write_report(inputs, tmp_path)
    page = path.read_text()
    assert page.index('id="summary"') < page.index('id="discrimination"') < page.index('id="qc"') \
        < page.index('id="methods"') < page.index('id="checklist"')
    assert "T &lt;study&gt;" in page and "Second &lt;b&gt;paragraph&lt;/b&gt;." in page  # escaped
    assert "Not run: no tps column" in page and "mask empty" in page and "1 scan(s) excluded" in page
    assert "@media print" in page and 'font-family: "DejaVu Sans"' in page  # CSS not HTML-escaped
    assert not re.search(r'(src|href)="https?://', page)  # self-contained
    imgs = re.findall(r'<img src="data:image/png;base64,', page)
    assert len(imgs) == 1
    assert (tmp_path / "figures" / "discrimination_roc.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "figures" / "discrimination_roc.svg").read_bytes()[:400]
    assert pd.read_csv(tmp_path / "tables" / "discrimination_auc.csv")["AUC"].tolist() == [0.8]
    checklist = pd.read_csv(tmp_path / "tables" / "reporting_checklist.csv")
    n = int((checklist["covered"] == "covered").sum())
    assert f"{n} of {len(checklist)} items are covered" in page
    assert page.count("✔ covered") == n and page.count("✘ not covered") == len(checklist) - n
    # deterministic: same inputs (freshly built figures), same bytes
    first = path.read_bytes()
    write_report(ReportInputs(title=inputs.title, summary=inputs.summary, sections=_sections(), qc=qc,
                              parameters=params), tmp_path)
    assert path.read_bytes() == first


@pytest.mark.parametrize("missing", ["Software", "Features"])
def test_missing_blocks_do_not_break(missing):
    params = parameter_record(_config(), STATE, {}, software_versions())
    params.pop(missing)
    out = reporting_checklist(params, [])
    assert (out["covered"] == "not covered").sum() >= 3
