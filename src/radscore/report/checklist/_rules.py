"""What the checklists' rules read, and the readers they share.

A rule maps the run's typed records (:class:`RunRecord`) to a :class:`Finding`: a status,
the evidence (the recorded values, or what is missing) and where in the report the item is
covered (anchors of the HTML report: a methods paragraph, a section's table or figure).
Nothing is parsed back from display text, and no status is fixed in advance: an item is
"covered" only when the records hold it. Items no software run can know (ethics approval,
funding, the manuscript's discussion) are "not covered" with a note that the author
supplies them (:func:`author`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import BaseModel

from radscore.catalog import MODEL_TITLES
from radscore.config import StudyConfig
from radscore.modeling.train import ModelStageRecord
from radscore.report import records
from radscore.report.methods import methods_paragraphs
from radscore.report.sections import Section, anchor, methods_anchor
from radscore.runtime.provenance import Provenance

COVERED, PARTLY, NOT, NA = "covered", "partly covered", "not covered", "not applicable"
#: Every status an item can have, in display order.
STATUSES = (COVERED, PARTLY, NOT, NA)
#: How the evidence of an item only the author can supply begins.
AUTHOR = "Author to supply"
#: The report's anchors of the parameter record and the per-scan table (templates/report.html).
PARAMETERS, SCANS = "methods_parameters", "methods_scans"
#: Cohorts held out within the development data (split or named so); every other name is external.
INTERNAL = ("testing", "internal")
#: At most this many report anchors per item: the first places that cover it.
MAX_WHERE = 3


@dataclass(frozen=True)
class Finding:
    """One item's status, evidence and report anchors (without ``#``)."""

    status: str
    evidence: str
    where: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunRecord:
    """What the rules read: the settings, provenance, model record, report sections, QC table
    and the methods paragraphs the report prints (heading -> text)."""

    config: StudyConfig
    provenance: Provenance
    models: ModelStageRecord | None
    sections: Sequence[Section]
    qc: pd.DataFrame = field(default_factory=pd.DataFrame)
    methods: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, config: StudyConfig, provenance: Provenance, models: ModelStageRecord | None,
           sections: Sequence[Section], qc: pd.DataFrame | None = None) -> "RunRecord":
        """The record with the methods paragraphs built as the report builds them."""
        return cls(config, provenance, models, list(sections), pd.DataFrame() if qc is None else qc,
                   dict(methods_paragraphs(config, provenance, models)))

    def in_methods(self, *headings: str) -> tuple[str, ...]:
        """Anchors of those methods paragraphs the report prints."""
        return tuple(methods_anchor(h) for h in headings if h in self.methods)

    def cohorts(self) -> Counter:
        """Cohort name -> patients, from the model record, else the split stage."""
        if self.models is not None and self.models.cohorts:
            return Counter(self.models.cohorts.values())
        split = self.provenance.stage("split")
        if split is None or not split.result:
            return Counter()
        return Counter({k: int(v) for k, v in split.result.items()})


Rule = Callable[[RunRecord], Finding]


@dataclass(frozen=True)
class Item:
    """One checklist item: its number, the section it belongs to, a short paraphrased title and its rule.

    ``weight`` is the METRICS weight; ``applies`` (METRICS conditions) returns why the item
    does not apply to this run, or None when it does.
    """

    number: str
    section: str
    title: str
    rule: Rule
    weight: float | None = None
    applies: Callable[[RunRecord], str | None] | None = None


# --------------------------------------------------------------------------- combining

def combine(*findings: Finding) -> Finding:
    """All parts covered: covered; none: not covered; otherwise partly covered."""
    parts = [f for f in findings if f.status != NA]
    statuses = {f.status for f in parts}
    status = COVERED if statuses <= {COVERED} else NOT if statuses <= {NOT} else PARTLY
    where = tuple(dict.fromkeys(w for f in findings for w in f.where))
    return Finding(status, "; ".join(f.evidence for f in findings if f.evidence), where)


def at_most_partly(f: Finding, rest: str) -> Finding:
    """What the run records covers part of the item; ``rest`` says what the author adds."""
    status = PARTLY if f.status in (COVERED, PARTLY) else NOT
    return Finding(status, f"{f.evidence}; {rest}" if f.evidence else rest, f.where)


def author(what: str) -> Rule:
    """An item no run can record: not covered, the author supplies it."""
    return lambda r: Finding(NOT, f"{AUTHOR}: {what}")


def not_done(what: str) -> Rule:
    """An analysis radscore does not run: not covered, saying so."""
    return lambda r: Finding(NOT, f"not done by the run: {what}")


# --------------------------------------------------------------------------- readers

def _short(v: Any, n: int = 80) -> str:
    s = records.display(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def setting(r: RunRecord, section: BaseModel, label: str, *keys: str, methods: Sequence[str] = ()) -> Finding:
    """Covered when the typed settings have every key, set; a key the config lacks is named as such."""
    fields = type(section).model_fields
    absent = [k for k in keys if k not in fields]
    unset = [k for k in keys if k in fields and getattr(section, k) in (None, "", [], {})]
    if absent or unset:
        why = [f"{label}.{k} is not a radscore setting" for k in absent] + [f"{label}.{k} is not set" for k in unset]
        return Finding(NOT, "not recorded: " + "; ".join(why))
    return Finding(COVERED, "; ".join(f"{label}.{k} = {_short(getattr(section, k))}" for k in keys),
                   r.in_methods(*methods) + (PARAMETERS,))


def every_scan(r: RunRecord, step: str, *keys: str, methods: Sequence[str] = ()) -> Finding:
    """Covered when every scan's ``step`` records every key (result or settings)."""
    p = r.provenance
    if not p.scans:
        return Finding(NOT, f"no scan record ({step})")
    missing: dict[str, str] = {}  # scan -> what its record lacks
    seen: dict[str, dict[str, None]] = {k: {} for k in keys}  # distinct values, in first-seen order
    for sp in p.scans:
        st = sp.step(step)
        if st is None:
            missing[sp.scan] = f"no {step} step"
            continue
        if lacks := [k for k in keys if records.value(st, k) is None]:
            missing[sp.scan] = f"{step} lacks {', '.join(lacks)}"
        for k in keys:
            if (v := records.value(st, k)) is not None:
                seen[k][_short(v, 60)] = None
    if len(missing) == len(p.scans) and len(set(missing.values())) == 1:  # the same gap everywhere: say it once
        return Finding(NOT, f"all {records.count(len(p.scans), 'scan')}: {next(iter(missing.values()))}")
    if missing:
        shown = [f"{scan}: {why}" for scan, why in list(missing.items())[:2]]
        return Finding(NOT, "; ".join(shown) + (f" (+{len(missing) - 2} more)" if len(missing) > 2 else ""))
    shown = {k: list(v)[:3] + (["…"] if len(v) > 3 else []) for k, v in seen.items()}
    return Finding(COVERED, f"{step} of all {records.count(len(p.scans), 'scan')}: " + "; ".join(
        f"{k} = {', '.join(v)}" for k, v in shown.items()), r.in_methods(*methods) + (SCANS,))


def software(r: RunRecord, *packages: str) -> Finding:
    p = r.provenance
    if missing := [k for k in packages if not p.software.get(k)]:
        return Finding(NOT, f"version not recorded: {', '.join(missing)}")
    return Finding(COVERED, ", ".join(f"{k} {p.software[k]}" for k in packages), r.in_methods("Software"))


def full_settings(r: RunRecord) -> Finding:
    """The run's every setting (defaults included) and their hash, printed as the parameter record."""
    p = r.provenance
    if not p.settings or not p.settings_hash:
        return Finding(NOT, "the run's settings or their hash are not recorded")
    return Finding(COVERED, f"all {len(p.settings)} settings blocks, defaults included, in the parameter record "
                            f"(settings hash {p.settings_hash})", r.in_methods("Software") + (PARAMETERS,))


def suv(r: RunRecord) -> Finding:
    """Covered when every PET records its SUV method and factor, or was given in SUV."""
    suvs = {sp.scan: s for sp in r.provenance.scans if (s := records.suv_of(sp)).kind != "no PET"}
    if not suvs:
        return Finding(NOT, "no load_pet step recorded")
    bad = [f"{scan}: {s.why}" for scan, s in suvs.items() if s.kind == "unrecorded"]
    if bad:
        return Finding(NOT, "; ".join(bad[:2]) + (f" (+{len(bad) - 2} more)" if len(bad) > 2 else ""))
    methods = Counter(s.method for s in suvs.values() if s.kind == "converted")
    given = sum(s.kind == "given" for s in suvs.values())
    parts = [f"{records.count(n, 'DICOM series')} converted to SUV{m}" for m, n in methods.items()]
    return Finding(COVERED, "; ".join(parts + ([f"{given} image(s) given in SUV"] if given else [])),
                   r.in_methods("Images and SUV conversion") + (SCANS,))


def interpolation(r: RunRecord) -> Finding:
    return every_scan(r, "resample", "grid.spacing_mm", "grid_alignment", "image_interpolator",
                      methods=("Preprocessing",))


def mask_interpolation(r: RunRecord) -> Finding:
    return every_scan(r, "resample", "mask_interpolation", methods=("Preprocessing",))


def acquisition(r: RunRecord) -> Finding:
    # No loader reads scanner or reconstruction tags today, so this stays "not covered"
    # until a load step records an ``acquisition`` entry.
    return combine(every_scan(r, "load_ct", "acquisition"), every_scan(r, "load_pet", "acquisition"))


def segmentation(r: RunRecord) -> Finding:
    return combine(every_scan(r, "load_mask", "source", methods=("Images and SUV conversion",)),
                   every_scan(r, "vois", "kept", methods=("Volumes of interest",)),
                   setting(r, r.config.voi, "voi", "core_mm", "ring_mm", "body_threshold_hu",
                           methods=("Volumes of interest",)))


def discretisation(r: RunRecord) -> Finding:
    return setting(r, r.config.features, "features", "bin_width_ct", "bin_width_pet", "bin_count_fused",
                   methods=("Feature extraction",))


def image_types(r: RunRecord) -> Finding:
    return setting(r, r.config.features, "features", "image_types", methods=("Feature extraction",))


def feature_classes(r: RunRecord) -> Finding:
    return setting(r, r.config.features, "features", "feature_classes", methods=("Feature extraction",))


def engine(r: RunRecord) -> Finding:
    return every_scan(r, "features", "engine_version", methods=("Feature extraction",))


def robustness(r: RunRecord) -> Finding:
    rb, stage = r.config.robustness, r.provenance.stage("robustness")
    if rb.icc_source == "off":
        return Finding(NOT, "robustness.icc_source = off: no robustness filter")
    if stage is not None and stage.result.get("skipped"):
        return Finding(NOT, f"robustness stage skipped: {stage.result['skipped']}")
    f = setting(r, rb, "robustness", "icc_source", "icc_threshold", "icc_type", methods=("Feature robustness",))
    ev = f.evidence
    if stage is not None and stage.result.get("source"):
        ev += f"; source used: {stage.result['source']}"
    if perturbed := records.steps(r.provenance, "perturb_mask"):
        ev += f"; {records.count(len(perturbed), 'perturbed mask')} recorded"
    f = Finding(f.status, ev, f.where + tables(r, ("icc",)).where)
    # configured is not done: without the stage's record the filter may not have run
    return f if stage is not None else at_most_partly(f, "the robustness stage is not recorded")


def split(r: RunRecord) -> Finding:
    counts = records.cohort_counts(r.models, r.provenance)
    cohorts = (Finding(COVERED, counts, r.in_methods("Selection and modelling")) if counts
               else Finding(NOT, "cohorts not recorded (no split stage or model stage record)"))
    return combine(setting(r, r.config.split, "split", "test_fraction", "stratify",
                           methods=("Selection and modelling",)), cohorts)


def per_model(r: RunRecord, attr: str) -> Finding:
    """Covered when every Radscore's record holds a non-empty ``attr``."""
    if r.models is None or not r.models.models:
        return Finding(NOT, f"no model stage record ({attr})")
    missing = [MODEL_TITLES.get(m.name, m.name) for m in r.models.models if not getattr(m, attr)]
    if missing:
        return Finding(NOT, f"{attr} not recorded for {', '.join(missing)}")
    return Finding(COVERED, f"{attr} recorded for " + ", ".join(MODEL_TITLES.get(m.name, m.name)
                                                                for m in r.models.models),
                   r.in_methods("Selection and modelling") + (PARAMETERS,))


def selection(r: RunRecord) -> Finding:
    return combine(setting(r, r.config.selection, "selection", "univariate_test", "max_features",
                           methods=("Selection and modelling",)), per_model(r, "selection_steps"))


def model_tuning(r: RunRecord) -> Finding:
    return combine(setting(r, r.config.model, "model", "type", "cv_folds", methods=("Selection and modelling",)),
                   per_model(r, "best_params"))


def in_selection_steps(r: RunRecord, step: str, what: str) -> Finding:
    """Covered when every Radscore's recorded selection chain has ``step``."""
    f = per_model(r, "selection_steps")
    if f.status != COVERED:
        return f
    lacking = [MODEL_TITLES.get(m.name, m.name) for m in r.models.models if step not in m.selection_steps]
    if lacking:
        return Finding(NOT, f"no {step} step ({what}) recorded for {', '.join(lacking)}")
    return Finding(COVERED, f"{what}: the {step} step of every Radscore's selection", f.where)


# --------------------------------------------------------------------------- report sections

def _ran(r: RunRecord) -> list[Section]:
    return [s for s in r.sections if not s.skipped]


def tables(r: RunRecord, words: tuple[str, ...], what: str = "", *, figures: bool = True) -> Finding:
    """Covered when some section that ran has a table (or figure) whose name holds one of ``words``."""
    hits = [(s, n) for s in _ran(r) for n in list(s.tables) + (list(s.figures) if figures else [])
            if any(w in n.lower() for w in words)]
    if not hits:
        return Finding(NOT, f"no {what or ' / '.join(words)} in the report's sections")
    shown = [f"{s.title}: {n}" for s, n in hits[:3]] + ([f"+{len(hits) - 3} more"] if len(hits) > 3 else [])
    return Finding(COVERED, "; ".join(shown), tuple(dict.fromkeys(anchor(s.key, n) for s, n in hits))[:MAX_WHERE])


def section(r: RunRecord, key: str, what: str) -> Finding:
    """Covered when the report's section ``key`` ran; its reason when it was skipped."""
    for s in r.sections:
        if s.key == key:
            if s.skipped:
                return Finding(NOT, f"{what}: not run ({s.skipped})")
            return Finding(COVERED, f"{what}: section '{s.title}'", (s.key,))
    return Finding(NOT, f"{what}: no such section in the report")


def _columns(df: pd.DataFrame) -> set[str]:
    return {str(c).lower().replace("_", " ") for c in getattr(df, "columns", [])}


def _column(df: pd.DataFrame, name: str) -> Any:
    """The column of ``df`` whose normalised name is ``name``."""
    return next(c for c in df.columns if str(c).lower().replace("_", " ") == name)


def auc_tables(r: RunRecord) -> list[tuple[Section, str, pd.DataFrame]]:
    """Tables of an AUC with its 95 % CI: wide (``AUC``, ``CI low``, ``CI high``) or long
    (``metric`` holding ``ROC AUC`` with ``estimate``, ``ci_low``, ``ci_high``, the metrics table)."""
    out = []
    for s in _ran(r):
        for name, df in s.tables.items():
            cols = _columns(df)
            if not {"ci low", "ci high"} <= cols:
                continue
            if "auc" in cols or ("metric" in cols and df[_column(df, "metric")].astype(str).str.contains("AUC").any()):
                out.append((s, name, df))
    return out


def auc_ci(r: RunRecord) -> Finding:
    hits = auc_tables(r)
    if not hits:
        return Finding(NOT, "no AUC table with confidence intervals")
    return Finding(COVERED, "; ".join(f"{s.title}: {n} (AUC with 95 % CI)" for s, n, _ in hits[:2])
                   + (f"; +{len(hits) - 2} more" if len(hits) > 2 else ""),
                   tuple(anchor(s.key, n) for s, n, _ in hits[:MAX_WHERE]))


def evaluated(r: RunRecord, kind: str) -> Finding:
    """Performance in held-out cohorts: ``kind`` is ``internal`` (testing / internal) or ``external``.

    Covered when such a cohort is recorded and an AUC table with its CI exists (naming that
    cohort, when the table has a ``cohort`` column).
    """
    cohorts = [c for c in r.cohorts() if c != "training" and c != "unassigned"
               and ((c in INTERNAL) == (kind == "internal"))]
    if not cohorts:
        return Finding(NOT, f"no {kind} test cohort recorded (cohorts: "
                            f"{', '.join(sorted(r.cohorts())) or 'none'})")
    # tables naming their cohorts must name one of these; a table without a cohort column counts for all
    hits = [(s, name, df) for s, name, df in auc_tables(r) if "cohort" not in _columns(df)
            or {str(v).lower() for v in df[_column(df, "cohort")]} & {c.lower() for c in cohorts}]
    shown = [c for c in cohorts if any("cohort" not in _columns(df) or c.lower() in
                                       {str(v).lower() for v in df[_column(df, "cohort")]} for _, _, df in hits)]
    if not shown:
        return Finding(PARTLY, f"{kind} cohort(s) {', '.join(cohorts)} recorded but no AUC with CI reported for them")
    n = r.cohorts()
    return Finding(COVERED, "AUC with 95 % CI in " + ", ".join(f"{c} ({n[c]} patients)" for c in shown),
                   tuple(anchor(s.key, name) for s, name, _ in hits[:MAX_WHERE]))


def external_cohorts(r: RunRecord) -> list[str]:
    return sorted(c for c in r.cohorts() if c not in ("training", "unassigned", *INTERNAL))


def exclusions(r: RunRecord) -> Finding:
    """The scans the run's checks excluded, with their reasons (the QC table)."""
    qc = r.qc
    if qc.empty or "severity" not in qc.columns:
        return Finding(NOT, "no scan was excluded by the run's checks")
    n = int((qc["severity"] == "excluded").sum())
    if not n:
        return Finding(NOT, "no scan was excluded by the run's checks")
    return Finding(COVERED, f"{records.count(n, 'scan')} excluded by the run's checks, each with its reason", ("qc",))
