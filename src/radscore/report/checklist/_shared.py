"""Rules that several checklists share (CLEAR, TRIPOD+AI, METRICS ask some of the same things)."""

from __future__ import annotations

from collections import Counter

from radscore.report import records
from radscore.report.checklist._rules import (AUTHOR, COVERED, NOT, PARTLY, SCANS, Finding, RunRecord, at_most_partly,
                                              setting, software, tables)
from radscore.report.sections import anchor


def checklists_in_report(r: RunRecord) -> Finding:
    """The report fills the checklists from the record; the manuscript still has to state adherence."""
    return Finding(PARTLY, "this report fills TRIPOD+AI, CLEAR, METRICS and the IBSI items from the run's record; "
                           "the manuscript states which it followed and supplies the author's items", ("checklist",))


def pipeline_steps(r: RunRecord) -> Finding:
    """The processing steps every scan went through, in order (no flowchart figure is drawn)."""
    if not r.provenance.scans:
        return Finding(NOT, "no scan record")
    longest = max(r.provenance.scans, key=lambda sp: len(sp.steps))
    stages = [s.name for s in r.provenance.stages]
    steps = " → ".join(dict.fromkeys(s.name for s in longest.steps))
    return Finding(PARTLY, f"steps recorded per scan: {steps}; study stages: {' → '.join(stages) or 'none'}; "
                           "no flowchart figure is drawn", ("methods", SCANS))


def data_source(r: RunRecord) -> Finding:
    p = r.provenance
    sources = Counter(str(st.result.get("source") or "unrecorded") for name in ("load_ct", "load_pet")
                      for st in records.steps(p, name))
    if not p.inputs or not sources:
        return Finding(NOT, "the manifest's hash or the images' sources are not recorded")
    ins = ", ".join(f"{k} {v[:12]}" for k, v in sorted(p.inputs.items()))  # hash prefixes; provenance.json has all
    return Finding(PARTLY, f"inputs {ins}; images from {', '.join(f'{k} ({n})' for k, n in sources.items())}; "
                           "whether the data are private or public, and from where, is the author's to state",
                   r.in_methods("Images and SUV conversion") + (SCANS,))


def endpoint(r: RunRecord) -> Finding:
    f = setting(r, r.config.endpoint, "endpoint", "column", "positive_name", "negative_name")
    f = Finding(f.status, f.evidence, ("summary",) + f.where)
    return at_most_partly(f, "how and when the outcome was assessed is the author's to state")


def events(r: RunRecord) -> Finding:
    """Patients and positive-class patients per evaluated cohort (the metrics table's ``n``, ``n_positive``)."""
    for s in r.sections:
        if s.skipped:
            continue
        for name, df in s.tables.items():
            cols = [str(c).lower() for c in getattr(df, "columns", [])]
            if "n_positive" in cols and "n" in cols and "cohort" in cols:
                rows = df.drop_duplicates("cohort")
                counts = ", ".join(f"{c}: {int(p)} of {int(n)}" for c, n, p in
                                   zip(rows["cohort"], rows["n"], rows["n_positive"]))
                return Finding(COVERED, f"positive class per cohort: {counts}", (anchor(s.key, name),))
    return Finding(NOT, "no table of patients and positive-class patients per cohort")


def class_counts(r: RunRecord) -> Finding:
    """The classes per cohort are reported; nothing re-weights or resamples them."""
    return at_most_partly(events(r), f"split.stratify = {str(r.config.split.stratify).lower()}; no class weighting "
                                     "or resampling (model.class_weight is not a radscore setting)")


def comparison_with_non_radiomic(r: RunRecord) -> Finding:
    """Conventional PET measures, a TPS-integrated model or nomograms against / with the Radscore."""
    f = tables(r, ("conventional", "integrated"), "comparison with conventional PET measures or a combined model",
               figures=False)
    if f.status == COVERED:
        return f
    if nomograms := [s for s in r.sections if s.key.startswith("nomogram") and not s.skipped]:
        return Finding(COVERED, "nomograms combining the Radscore with clinical variables: "
                                + ", ".join(s.title for s in nomograms), tuple(s.key for s in nomograms))
    return f


def source_code(r: RunRecord) -> Finding:
    return at_most_partly(software(r, "radscore"), "where the code is published is the author's to cite")


def model_files(r: RunRecord) -> Finding:
    if r.models is None or not r.models.models:
        return Finding(NOT, "no model stage record: no model was saved")
    return Finding(PARTLY, f"the run saved {records.count(len(r.models.models), 'Radscore model')} under models/ "
                           "(plain arrays and JSON, hash-listed, no pickle); where they are shared is the author's",
                   ("methods_parameters",))


def ready_to_use(r: RunRecord) -> Finding:
    if r.models is None or not r.models.models:
        return Finding(NOT, "no model stage record: nothing to score new patients with")
    return Finding(PARTLY, "`radscore predict` and the web page score a new patient from the saved models; "
                           "publishing them is the author's", ("methods_parameters",))


def treatments(r: RunRecord) -> Finding:
    for s in r.sections:
        if s.key == "treatment_arms" and not s.skipped:
            return at_most_partly(Finding(COVERED, f"treatment arms analysed: section '{s.title}'", (s.key,)),
                                  "the treatments received are the author's to describe")
    return Finding(NOT, f"{AUTHOR}: the treatments received (no treatment-arm analysis ran)")
