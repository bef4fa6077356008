"""METRICS: the METhodological RadiomICs Score, 30 weighted items in 9 categories, and its score.

Reference: Kocak B, Akinci D'Antonoli T, Mercaldo N, et al. METhodological RadiomICs Score
(METRICS): a quality scoring tool for radiomics research endorsed by EuSoMII. Insights Imaging
2024;15:8. doi:10.1186/s13244-023-01572-w (Table 1: items and weights; the weights sum to 1).
Item numbers and weights are the paper's; titles are short paraphrases.

The score is computed as the authors' online tool (metricsscore.github.io, v1.0) does: the
weights of the items answered "yes" over the weights of the items that apply (answered
"yes" or "no"; an item excluded by a condition counts in neither), times 100, shown to one
decimal; quality bands at 20, 40, 60 and 80 %. Here "yes" is an item *covered* by what the run
recorded; "partly covered", "not covered" and the author's items count as "no", so the score
is what the run's record alone supports: a lower bound until the author answers the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from radscore.report.checklist._rules import (COVERED, NA, NOT, PARTLY, Finding, Item, RunRecord, acquisition,
                                              at_most_partly, auc_ci, author, combine, discretisation, engine,
                                              evaluated, every_scan, external_cohorts, feature_classes, full_settings,
                                              image_types, in_selection_steps, interpolation, per_model, robustness,
                                              segmentation, software, split, suv, tables)
from radscore.report.checklist._shared import (checklists_in_report, comparison_with_non_radiomic, endpoint,
                                               model_files, source_code)

#: Quality bands of the METRICS tool: lower bound of the score (%) -> category.
BANDS = ((80.0, "excellent"), (60.0, "good"), (40.0, "moderate"), (20.0, "low"), (0.0, "very low"))
#: At least this many training patients per selected feature (METRICS item 16's usual rule of thumb).
PATIENTS_PER_FEATURE = 10


# --------------------------------------------------------------------------- conditions

def _no_segmentation(r: RunRecord) -> str | None:
    return None if r.config.features.vois else "condition 1: no segmentation (no VOI configured)"


def _not_automatic(r: RunRecord) -> str | None:
    return "condition 2: the tumour masks are given in the manifest; radscore does not segment them automatically"


def _no_handcrafted(r: RunRecord) -> str | None:
    return None if r.config.features.feature_classes else "condition 3: no hand-crafted feature class configured"


def _not_end_to_end(r: RunRecord) -> str | None:
    return "condition 5: no end-to-end deep learning (deep features, when on, enter the models as a table)"


# --------------------------------------------------------------------------- rules

def _multicentre(r: RunRecord) -> Finding:
    if external := external_cohorts(r):
        return Finding(PARTLY, f"external cohort(s) {', '.join(external)} recorded; that they come from "
                                         "other institutions is the author's to confirm", ("summary",))
    return Finding(NOT, "one data source: no external cohort recorded")


def _dimensionality(r: RunRecord) -> Finding:
    n_train = r.cohorts().get("training", 0)
    if r.models is None or not r.models.models or not n_train:
        return Finding(NOT, "no model stage record or no training cohort")
    worst = max(r.models.models, key=lambda m: m.n_selected)
    ratio = n_train / max(worst.n_selected, 1)
    ok = ratio >= PATIENTS_PER_FEATURE
    return Finding(COVERED if ok else NOT, f"{n_train} training patients for at most {worst.n_selected} selected "
                                           f"features ({worst.name}): {ratio:.1f} per feature "
                                           f"({'≥' if ok else '<'} {PATIENTS_PER_FEATURE})",
                   r.in_methods("Selection and modelling") + ("methods_parameters",))


def _uniparametric(r: RunRecord) -> Finding:
    """Single-modality models, or proof (paired DeLong) that they do worse than the combined one."""
    if r.models is None or not r.models.models:
        return Finding(NOT, "no model stage record")
    single = [m.name for m in r.models.models if m.name in ("pet", "ct")]
    if len(r.config.scan.modalities) == 1 or len(single) == len(r.models.models):
        return Finding(COVERED, f"uni-parametric models only ({', '.join(m.name for m in r.models.models)})",
                       r.in_methods("Selection and modelling"))
    delong = tables(r, ("delong",), "paired DeLong test", figures=False)
    if not single:
        return Finding(NOT, "multi-parametric models without a single-modality model to compare with")
    return combine(Finding(COVERED, f"single-modality models {', '.join(single)} fitted beside the combined ones",
                           r.in_methods("Selection and modelling")), delong)


def _added_value(r: RunRecord) -> Finding:
    f = comparison_with_non_radiomic(r)
    return f if f.status == COVERED else tables(r, ("decision",), "non-radiomic comparison or decision curve")


ITEMS: tuple[Item, ...] = tuple(
    Item(str(n), cat, title, rule, weight, applies) for n, cat, title, rule, weight, applies in (
        (1, "Study design", "Radiomics / ML checklist followed", checklists_in_report, 0.0368, None),
        (2, "Study design", "Eligibility criteria for a representative population",
         author("the eligibility criteria"), 0.0735, None),
        (3, "Study design", "High-quality, clearly defined reference standard", endpoint, 0.0919, None),
        (4, "Imaging data", "Multi-centre data", _multicentre, 0.0438, None),
        (5, "Imaging data", "Clinically translatable imaging source", author("the imaging standardisation followed"),
         0.0292, None),
        (6, "Imaging data", "Acquisition protocol and parameters", acquisition, 0.0438, None),
        (7, "Imaging data", "Interval between imaging and reference standard", author("the interval"), 0.0292, None),
        (8, "Segmentation", "Segmentation method described",
         lambda r: at_most_partly(segmentation(r), "how the tumour masks were drawn is the author's to state"),
         0.0337, _no_segmentation),
        (9, "Segmentation", "Automatic segmentation formally evaluated", author("the evaluation"), 0.0225,
         _not_automatic),
        (10, "Segmentation", "Test-set masks by one reader or tool", author("who drew the test-set masks"), 0.0112,
         _no_segmentation),
        (11, "Image processing and feature extraction", "Pre-processing appropriate and described",
         lambda r: combine(suv(r), interpolation(r), every_scan(r, "register", "method",
                                                                methods=("Images and SUV conversion",))),
         0.0622, _no_handcrafted),
        (12, "Image processing and feature extraction", "Standardised (IBSI-compliant) extraction software",
         lambda r: combine(software(r, "radscore"), engine(r)), 0.0311, _no_handcrafted),
        (13, "Image processing and feature extraction", "Extraction parameters reported",
         lambda r: combine(discretisation(r), image_types(r), feature_classes(r), full_settings(r)), 0.0415,
         _no_handcrafted),
        (14, "Feature processing", "Non-robust features removed", robustness, 0.0200, _no_handcrafted),
        (15, "Feature processing", "Redundant features removed",
         lambda r: in_selection_steps(r, "deduplicate", "near-duplicate removal"), 0.0200, _no_handcrafted),
        (16, "Feature processing", "Dimensionality suits the data size", _dimensionality, 0.0300, _no_handcrafted),
        (17, "Feature processing", "End-to-end deep learning robustness", author("the robustness assessment"),
         0.0200, _not_end_to_end),
        (18, "Preparation for modelling", "Proper data partitioning",
         lambda r: combine(split(r), per_model(r, "selection_steps")), 0.0599, None),
        (19, "Preparation for modelling", "Confounders handled", author("how confounders were handled"), 0.0300, None),
        (20, "Metrics and comparison", "Appropriate performance metrics",
         lambda r: combine(auc_ci(r), tables(r, ("metrics",), "metric table", figures=False)), 0.0352, None),
        (21, "Metrics and comparison", "Uncertainty considered", auc_ci, 0.0234, None),
        (22, "Metrics and comparison", "Calibration assessed",
         lambda r: tables(r, ("calibration",), "calibration table or figure"), 0.0176, None),
        (23, "Metrics and comparison", "Uni-parametric imaging or proof of its inferiority", _uniparametric, 0.0117,
         None),
        (24, "Metrics and comparison", "Compared with a non-radiomic approach or added clinical value shown",
         _added_value, 0.0293, None),
        (25, "Metrics and comparison", "Compared with simple or classical statistical models",
         lambda r: tables(r, ("classifier_comparison",), "comparison with simple or classical models",
                          figures=False), 0.0176, None),
        (26, "Testing", "Internal testing", lambda r: evaluated(r, "internal"), 0.0375, None),
        (27, "Testing", "External testing", lambda r: evaluated(r, "external"), 0.0749, None),
        (28, "Open science", "Data available", author("the data's availability"), 0.0075, None),
        (29, "Open science", "Code available", source_code, 0.0075, None),
        (30, "Open science", "Model available", model_files, 0.0075, None),
    ))


@dataclass(frozen=True)
class MetricsScore:
    """The METRICS score of a filled METRICS table.

    Attributes
    ----------
    score : float
        Percent, to one decimal as the METRICS tool shows it.
    category : str
        Quality band: very low (< 20), low, moderate, good, excellent (>= 80).
    weight_yes, weight_applicable : float
        Sum of the weights of the covered items, and of the items that apply.
    """

    score: float
    category: str
    weight_yes: float
    weight_applicable: float


def metrics_score(table: pd.DataFrame) -> MetricsScore:
    """The METRICS score from a METRICS table's ``status`` and ``weight`` columns (see the module docstring)."""
    applies = table["status"] != NA
    weight_applicable = float(table.loc[applies, "weight"].sum())
    weight_yes = float(table.loc[table["status"] == COVERED, "weight"].sum())
    score = round(100.0 * weight_yes / weight_applicable, 1) if weight_applicable else 0.0
    category = next(name for low, name in BANDS if score >= low)
    return MetricsScore(score, category, weight_yes, weight_applicable)
