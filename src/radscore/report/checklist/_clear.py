"""CLEAR: the 58 items of the CheckList for EvaluAtion of Radiomics research.

Reference: Kocak B, Baessler B, Bakas S, et al. CheckList for EvaluAtion of Radiomics research
(CLEAR): a step-by-step reporting guideline for authors and reviewers endorsed by ESR and
EuSoMII. Insights Imaging 2023;14:75. doi:10.1186/s13244-023-01415-8. Item numbers are the
paper's; titles are short paraphrases, not the published wording. Items 53 and 58 are the
two the paper marks "not essential".
"""

from __future__ import annotations

from radscore.report.checklist._rules import (COVERED, NA, NOT, Finding, Item, RunRecord, acquisition,
                                              at_most_partly, auc_ci, author, combine, discretisation, engine,
                                              evaluated, every_scan, exclusions, feature_classes, full_settings,
                                              image_types, in_selection_steps, interpolation, mask_interpolation,
                                              model_tuning, not_done, per_model, robustness, section, segmentation,
                                              selection, setting, software, split, suv, tables)
from radscore.report.checklist._shared import (checklists_in_report, class_counts, comparison_with_non_radiomic,
                                               data_source, endpoint, model_files, pipeline_steps, ready_to_use,
                                               source_code)


def _non_radiomic_predictors(r: RunRecord) -> Finding:
    if not r.config.clinical:
        return Finding(NA, "no non-radiomic predictor configured (clinical: is empty)")
    return at_most_partly(setting(r, r.config, "study", "clinical"),
                          "how each variable was defined and measured is the author's to state")


def _testing(r: RunRecord) -> Finding:
    internal, external = evaluated(r, "internal"), evaluated(r, "external")
    return combine(internal, external)


def _feature_statistics(r: RunRecord) -> Finding:
    return combine(tables(r, ("icc",), "ICC table"), per_model(r, "selected"))


def _model_selection(r: RunRecord) -> Finding:
    if r.models is None or not r.models.models:
        return Finding(NOT, "no model stage record")
    aucs = ", ".join(f"{m.name} {m.cv_auc:.3f}" for m in r.models.models if m.cv_auc == m.cv_auc)
    if not aucs:
        return Finding(NOT, "no cross-validated training AUC recorded")
    return Finding(COVERED, f"candidate Radscores compared by cross-validated training AUC ({aucs})",
                   r.in_methods("Selection and modelling") + ("methods_parameters",))


ITEMS: tuple[Item, ...] = tuple(Item(str(n), sec, title, rule) for n, sec, title, rule in (
    (1, "Title", "Title names the radiomic method", author("the manuscript's title")),
    (2, "Abstract", "Structured summary", author("the abstract (the report's summary gives the key numbers)")),
    (3, "Keywords", "Radiomics-relevant keywords", author("keywords")),
    (4, "Introduction", "Scientific or clinical background", author("the background")),
    (5, "Introduction", "Why a radiomic approach", author("the rationale")),
    (6, "Introduction", "Study objectives", author("the objectives")),
    (7, "Methods: study design", "Guidelines or checklists followed", checklists_in_report),
    (8, "Methods: study design", "Ethics (approval, consent, data protection)",
     author("ethics approval, consent and data protection")),
    (9, "Methods: study design", "Sample size calculation",
     lambda r: Finding(NOT, "not done by the run: no sample-size or power calculation; cohort sizes: "
                            + (", ".join(f"{n} {c}" for c, n in sorted(r.cohorts().items())) or "not recorded"))),
    (10, "Methods: study design", "Study nature (retrospective / prospective)", author("the study's nature")),
    (11, "Methods: study design", "Eligibility criteria",
     lambda r: at_most_partly(exclusions(r), "the clinical inclusion and exclusion criteria are the author's")),
    (12, "Methods: study design", "Technical pipeline flowchart", pipeline_steps),
    (13, "Methods: data", "Data source", data_source),
    (14, "Methods: data", "Overlap with data of earlier studies", author("any overlap with earlier studies")),
    (15, "Methods: data", "Data split method", split),
    (16, "Methods: data", "Imaging protocol (acquisition and processing)",
     lambda r: combine(acquisition(r), interpolation(r), suv(r))),
    (17, "Methods: data", "Non-radiomic predictor definitions", _non_radiomic_predictors),
    (18, "Methods: data", "Reference standard (outcome) definition", endpoint),
    (19, "Methods: segmentation", "Segmentation strategy",
     lambda r: at_most_partly(segmentation(r), "how the tumour masks were drawn (software, manual or automatic) "
                                               "is the author's to state")),
    (20, "Methods: segmentation", "Segmentation operators (number, experience)", author("who segmented")),
    (21, "Methods: pre-processing", "Image pre-processing details",
     lambda r: combine(suv(r), interpolation(r), every_scan(r, "register", "method",
                                                            methods=("Images and SUV conversion",)))),
    (22, "Methods: pre-processing", "Resampling method and parameters",
     lambda r: combine(interpolation(r), mask_interpolation(r))),
    (23, "Methods: pre-processing", "Discretisation method and parameters", discretisation),
    (24, "Methods: pre-processing", "Image types (original, filtered)", image_types),
    (25, "Methods: feature extraction", "Extraction software and version",
     lambda r: combine(software(r, "radscore"), engine(r))),
    (26, "Methods: feature extraction", "Feature classes", feature_classes),
    (27, "Methods: feature extraction", "Number of features",
     lambda r: every_scan(r, "features", "n_features", methods=("Feature extraction",))),
    (28, "Methods: feature extraction", "Defaults of the remaining parameters stated", full_settings),
    (29, "Methods: data preparation", "Missing data handling",
     lambda r: in_selection_steps(r, "impute", "missing values")),
    (30, "Methods: data preparation", "Class imbalance", class_counts),
    (31, "Methods: data preparation", "Segmentation reliability analysis", robustness),
    (32, "Methods: data preparation", "Feature scaling", lambda r: in_selection_steps(r, "scale", "feature scaling")),
    (33, "Methods: data preparation", "Dimension reduction", selection),
    (34, "Methods: modelling", "Algorithm details",
     lambda r: combine(setting(r, r.config.model, "model", "type", methods=("Selection and modelling",)),
                       per_model(r, "best_params"))),
    (35, "Methods: modelling", "Training and tuning details",
     lambda r: combine(model_tuning(r), setting(r, r.config, "study", "seed", methods=("Selection and modelling",)))),
    (36, "Methods: modelling", "Confounder handling", author("how confounders were handled")),
    (37, "Methods: modelling", "Model selection strategy", _model_selection),
    (38, "Methods: evaluation", "Testing (internal, external)", _testing),
    (39, "Methods: evaluation", "Performance metrics and why",
     lambda r: at_most_partly(tables(r, ("metrics",), "metric table", figures=False),
                              "why these metrics suit the task is the author's to state")),
    (40, "Methods: evaluation", "Uncertainty (e.g. confidence intervals)", auc_ci),
    (41, "Methods: evaluation", "Statistical comparison of performance (e.g. DeLong)",
     lambda r: tables(r, ("delong",), "DeLong test", figures=False)),
    (42, "Methods: evaluation", "Comparison with non-radiomic and combined methods", comparison_with_non_radiomic),
    (43, "Methods: evaluation", "Interpretability and explainability",
     not_done("no explanation method (e.g. SHAP) in the report")),
    (44, "Results", "Baseline demographics and clinical characteristics",
     lambda r: section(r, "baseline", "Table 1")),
    (45, "Results", "Eligibility flowchart",
     lambda r: at_most_partly(combine(exclusions(r), split(r)), "no flowchart is drawn")),
    (46, "Results", "Feature statistics (reproducibility, selection)", _feature_statistics),
    (47, "Results", "Model performance", lambda r: combine(auc_ci(r), evaluated(r, "internal"))),
    (48, "Results", "Comparison with non-radiomic and combined approaches", comparison_with_non_radiomic),
    (49, "Discussion", "Overview of the main findings", author("the discussion")),
    (50, "Discussion", "Earlier work and how this study differs", author("the comparison with earlier work")),
    (51, "Discussion", "Practical implications", author("the practical implications")),
    (52, "Discussion", "Strengths and limitations", author("the strengths and limitations")),
    (53, "Open science", "Images and segmentations shared (not essential)",
     author("where images and masks are shared")),
    (54, "Open science", "Radiomic feature data shared",
     author("where the feature table is shared (the run wrote features.parquet)")),
    (55, "Open science", "Pre-processing scripts or settings shared", full_settings),
    (56, "Open science", "Modelling source code shared", source_code),
    (57, "Open science", "Final model files shared", model_files),
    (58, "Open science", "Ready-to-use system shared (not essential)", ready_to_use),
))
