"""Methods prose, per-scan table and parameter blocks: all read from the typed records."""

from __future__ import annotations

import dataclasses

import pytest

from radscore.report.methods import methods_paragraphs, parameter_blocks, scan_table
from radscore.runtime.provenance import Provenance, ScanProvenance

def _edit_step(prov: Provenance, scan: str, name: str, edit) -> Provenance:
    """The record with ``edit(result) -> result`` applied to one scan's step (records are frozen)."""
    def fix(sp: ScanProvenance) -> ScanProvenance:
        if sp.scan != scan:
            return sp
        return dataclasses.replace(sp, steps=tuple(dataclasses.replace(s, result=edit(dict(s.result)))
                                                   if s.name == name else s for s in sp.steps))
    return dataclasses.replace(prov, scans=tuple(fix(sp) for sp in prov.scans))


def test_every_scan_has_a_row(provenance):
    table = scan_table(provenance)
    assert table["scan"].tolist() == ["P1/baseline/1", "P2/baseline/1"]
    p1, p2 = table.set_index("scan").loc["P1/baseline/1"], table.set_index("scan").loc["P2/baseline/1"]
    assert p1["CT source"] == "DICOM series" and p1["CT spacing (mm)"] == "0.98 × 0.98 × 3"
    assert p1["SUV"].startswith("SUVbw") and p1["SUV factor"] == "0.00019–0.00021"
    assert p1["mask source"] == "RTSTRUCT GTV" and p1["registration"] == "rigid"
    assert p2["SUV"] == "image in SUV" and p2["mask source"] == "image file"
    assert p2["grid size"] == "30 × 30 × 20" and p2["grid spacing (mm)"] == "1 × 1 × 1"
    # VOI volumes of the VOIs kept, in the catalog's order; P2's ring was left out
    assert [c for c in table.columns if c.endswith("(ml)")] == [
        "tumor volume (ml)", "core volume (ml)", "ring volume (ml)", "tumor_ring volume (ml)"]
    assert p1["ring volume (ml)"] == 9.8 and p2["ring volume (ml)"] != p2["ring volume (ml)"]
    assert (p1["features"], p2["features"]) == (428, 321) and (p1["warnings"], p2["warnings"]) == (0, 1)


def test_scan_table_of_many_scans_and_of_none(provenance):
    scans = [dataclasses.replace(provenance.scans[i % 2], scan=f"P{i:02d}/baseline/1") for i in range(12)]
    assert scan_table(provenance.with_scans(scans))["scan"].tolist() == sorted(s.scan for s in scans)
    assert scan_table(Provenance()).empty


def test_scan_table_without_suv_record(provenance):
    lacking = _edit_step(provenance, "P1/baseline/1", "load_pet", lambda r: {k: v for k, v in r.items() if k != "suv"})
    assert scan_table(lacking).set_index("scan").loc["P1/baseline/1", "SUV"] == "not recorded"


def test_robustness_text_follows_its_stage(config, provenance, models):
    skipped = dataclasses.replace(provenance, stages=tuple(
        dataclasses.replace(s, result={"source": "mask_2", "skipped": "no repeated segmentation"})
        if s.name == "robustness" else s for s in provenance.stages))
    text = dict(methods_paragraphs(config, skipped, models))["Feature robustness"]
    assert text == "No robustness filter was applied (no repeated segmentation)."


def test_ct_only_scan_has_no_suv(provenance):
    ct_only = dataclasses.replace(provenance, scans=tuple(
        dataclasses.replace(sp, steps=tuple(s for s in sp.steps if s.name != "load_pet"))
        if sp.scan == "P2/baseline/1" else sp for sp in provenance.scans))
    assert scan_table(ct_only).set_index("scan").loc["P2/baseline/1", "SUV"] is None


def test_methods_prose_comes_from_the_records(config, provenance, models):
    paras = dict(methods_paragraphs(config, provenance, models))
    assert list(paras) == ["Software", "Images and SUV conversion", "Preprocessing", "Volumes of interest",
                           "Image fusion", "Feature extraction", "Feature robustness", "Selection and modelling"]
    assert "radscore 9.9" in paras["Software"] and "0123456789abcdef" in paras["Software"]
    images = paras["Images and SUV conversion"]
    assert ("PET DICOM series of 1 scan were converted to SUVbw (body weight) from their tags "
            "(factor range 0.00019–0.00021)") in images
    assert "1 PET image was given in SUV" in images and "RTSTRUCT ROI (1 scan)" in images
    assert "rigid (1 scan), none (1 scan)" in images
    assert "1 × 1 × 1 mm voxels" in paras["Preprocessing"] and "centre-aligned (IBSI)" in paras["Preprocessing"]
    assert "5 mm" in paras["Volumes of interest"] and "ring (1 scan)" in paras["Volumes of interest"]
    assert "db2" in paras["Image fusion"]
    assert "321–428 features per scan" in paras["Feature extraction"]
    robustness = paras["Feature robustness"]
    assert "ICC(2,1)" in robustness and "0.75" in robustness and "612 of 749 features kept" in robustness
    assert "masks dilated and eroded by one voxel" in robustness and "second segmentation" not in robustness
    modelling = paras["Selection and modelling"]
    assert "2 training, 1 testing" in modelling and "constant → univariate → deduplicate → lasso" in modelling
    assert "COMB-Radscore: 2 of 749 features selected" in modelling and "max_depth = 2" in modelling
    assert "nested-CV AUC 0.68 ± 0.05 (5 folds)" in modelling
    # PET-Radscore's nested CV did not run: nothing is said about it
    assert modelling.count("nested-CV AUC") == 1


def test_methods_prose_of_several_suv_methods(config, provenance):
    lbm = _edit_step(provenance, "P2/baseline/1", "load_pet", lambda r: {
        **r, "source": "DICOM series", "suv": {"method": "lbm", "factor": 3.0e-4, "units": "BQML"}})
    images = dict(methods_paragraphs(config, lbm, None))["Images and SUV conversion"]
    assert "converted to SUVbw (body weight) from their tags (factor range 0.00019–0.00021)" in images
    assert "converted to SUVlbm (lean body mass (James)) from their tags (factor range 0.0003)" in images
    assert "given in SUV" not in images
    assert "record is absent" in dict(methods_paragraphs(config, lbm, None))["Selection and modelling"]


def test_parameter_blocks(config, models):
    blocks = parameter_blocks(config, models, software={"radscore": "9.9"})
    assert list(blocks)[:2] == ["Software", "Study"]
    assert {"Robustness", "Preprocessing", "VOI", "Analyses", "Selected features", "Tuned hyper-parameters",
            "Cutoffs and cross-validated AUC (training only)"} <= set(blocks)
    assert blocks["Robustness"] == {"icc_threshold": "0.75", "icc_type": "icc2", "icc_source": "auto",
                                    "perturbations": '["dilate_1", "erode_1", "random_0"]'}
    assert blocks["Study"]["seed"] == "42" and blocks["Preprocessing"]["spacing_mm"] == "[1.0, 1.0, 1.0]"
    assert blocks["Analyses"]["tps.high_cut"] == "50.0"
    assert blocks["Selected features"]["COMB-Radscore"] == "pet_tumor_a, ct_ring_b"
    cutoffs = blocks["Cutoffs and cross-validated AUC (training only)"]
    assert cutoffs["COMB-Radscore"].startswith("cutoff 0.2500 (youden)")
    assert all(isinstance(v, str) for b in blocks.values() for v in b.values())
    assert "Selected features" not in parameter_blocks(config, None)


@pytest.mark.parametrize("step", ["resample", "vois", "features", "load_mask"])
def test_a_missing_step_does_not_break(config, provenance, models, step):
    cut = dataclasses.replace(provenance, scans=tuple(
        dataclasses.replace(sp, steps=tuple(s for s in sp.steps if s.name != step)) for sp in provenance.scans))
    assert len(scan_table(cut)) == 2
    assert methods_paragraphs(config, cut, models)

