"""TRIPOD+AI: 27 main items, 52 sub-items, for prediction models built by regression or machine learning.

Reference: Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: updated guidance for
reporting clinical prediction models that use regression or machine learning methods. BMJ
2024;385:e078378. doi:10.1136/bmj-2023-078378. Item numbers are the paper's; titles are short
paraphrases, not the published wording.
"""

from __future__ import annotations

from radscore.report.checklist._rules import (COVERED, NA, NOT, Finding, Item, RunRecord, at_most_partly, auc_ci,
                                              author, combine, discretisation, exclusions,
                                              feature_classes, image_types, in_selection_steps, interpolation,
                                              model_tuning, not_done, per_model, section, selection, split,
                                              suv, tables)
from radscore.report.checklist._shared import (class_counts, data_source, endpoint, events, model_files,
                                               source_code, treatments)


def _candidates(r: RunRecord) -> Finding:
    if r.models is None or not r.models.models:
        return Finding(NOT, "no model stage record")
    return Finding(COVERED, "all extracted features were candidates: " + ", ".join(
        f"{m.name} {m.n_features}" for m in r.models.models) + "; no pre-selection outside the training pipeline",
        r.in_methods("Feature extraction", "Selection and modelling"))


def _model_building(r: RunRecord) -> Finding:
    """Model type, building steps, tuning and internal validation (nested CV for an honest estimate)."""
    f = combine(model_tuning(r), selection(r))
    if r.models is None:
        return f
    nested = [m.name for m in r.models.models if m.nested_cv_folds]
    internal = (Finding(COVERED, f"nested CV for {', '.join(nested)}") if nested
                else Finding(NOT, "no nested cross-validation recorded"))
    return combine(f, internal)


def _measures(r: RunRecord) -> Finding:
    return combine(auc_ci(r), tables(r, ("calibration",), "calibration table or figure"),
                   tables(r, ("decision",), "decision curve"))


def _output(r: RunRecord) -> Finding:
    if r.models is None or not r.models.models:
        return Finding(NOT, "no model stage record")
    return Finding(COVERED, "Radscore = log-odds of the positive class; risk groups by the cutoff: " + ", ".join(
        f"{m.name} {m.cutoff:.4f} ({m.cutoff_method})" for m in r.models.models),
        ("summary",) + r.in_methods("Selection and modelling") + ("methods_parameters",))


def _flow(r: RunRecord) -> Finding:
    return at_most_partly(combine(split(r), class_counts(r), exclusions(r)), "no flow diagram is drawn")


def _development_vs_evaluation(r: RunRecord) -> Finding:
    if len(r.cohorts()) < 2:
        return Finding(NOT, "one cohort only")
    return section(r, "baseline", "predictors and outcome compared between cohorts (Table 1, tests between cohorts)")


def _performance(r: RunRecord) -> Finding:
    subgroups = [s for s in r.sections if s.key in ("lesion_sites", "treatment_arms") and not s.skipped]
    sub = (Finding(COVERED, "subgroups: " + ", ".join(s.title for s in subgroups), tuple(s.key for s in subgroups))
           if subgroups else Finding(NOT, "no subgroup performance"))
    return combine(auc_ci(r), sub)


def _predictions(r: RunRecord) -> Finding:
    if r.models is None or not r.models.models:
        return Finding(NOT, "no model stage record")
    return Finding(COVERED, "predictions from the saved model files (the Radscore is the model's log-odds); "
                            "`radscore predict` recomputes them", ("methods_parameters",))


ITEMS: tuple[Item, ...] = tuple(Item(n, sec, title, rule) for n, sec, title, rule in (
    ("1", "Title", "Title: development or evaluation, population, outcome", author("the manuscript's title")),
    ("2", "Abstract", "Abstract (TRIPOD+AI for Abstracts)", author("the abstract")),
    ("3a", "Introduction", "Healthcare context and rationale", author("the context and rationale")),
    ("3b", "Introduction", "Target population, intended use and users", author("the intended use and users")),
    ("3c", "Introduction", "Known health inequalities", author("known inequalities between groups")),
    ("4", "Introduction", "Objectives (development, evaluation or both)", author("the objectives")),
    ("5a", "Methods", "Data sources, rationale and representativeness", data_source),
    ("5b", "Methods", "Dates of accrual and follow-up", author("accrual and follow-up dates")),
    ("6a", "Methods", "Setting, number and location of centres", author("the setting and centres")),
    ("6b", "Methods", "Eligibility criteria",
     lambda r: at_most_partly(exclusions(r), "the clinical eligibility criteria are the author's")),
    ("6c", "Methods", "Treatments received and their handling", treatments),
    ("7", "Methods", "Data pre-processing and quality checks",
     lambda r: at_most_partly(combine(suv(r), interpolation(r)),
                              "whether pre-processing was similar across sociodemographic groups is not assessed")),
    ("8a", "Methods", "Outcome, time horizon, how and when assessed", endpoint),
    ("8b", "Methods", "Qualifications of outcome assessors", author("who assessed the outcome")),
    ("8c", "Methods", "Blinding of outcome assessment", author("any blinding of outcome assessment")),
    ("9a", "Methods", "Choice and pre-selection of candidate predictors", _candidates),
    ("9b", "Methods", "Predictor definitions and measurement",
     lambda r: combine(feature_classes(r), image_types(r), discretisation(r))),
    ("9c", "Methods", "Qualifications of predictor assessors (e.g. segmentation)", author("who drew the masks")),
    ("10", "Methods", "Study size and its justification",
     lambda r: Finding(NOT, "not done by the run: no sample-size calculation; cohort sizes: "
                            + (", ".join(f"{n} {c}" for c, n in sorted(r.cohorts().items())) or "not recorded"))),
    ("11", "Methods", "Missing data handling", lambda r: in_selection_steps(r, "impute", "missing values")),
    ("12a", "Methods", "How the data were used and partitioned", split),
    ("12b", "Methods", "Predictor handling (form, scaling, transformation)",
     lambda r: in_selection_steps(r, "scale", "feature scaling")),
    ("12c", "Methods", "Model type, building steps, tuning, internal validation", _model_building),
    ("12d", "Methods", "Heterogeneity across clusters (e.g. centres)",
     not_done("performance is reported per cohort but heterogeneity across centres is not quantified")),
    ("12e", "Methods", "Performance measures and plots", _measures),
    ("12f", "Methods", "Model updating (e.g. recalibration)",
     lambda r: Finding(NA, "the run does not update or recalibrate a model")),
    ("12g", "Methods", "How predictions were calculated for evaluation", _predictions),
    ("13", "Methods", "Class imbalance methods", class_counts),
    ("14", "Methods", "Fairness approaches", not_done("no fairness analysis")),
    ("15", "Methods", "Model output and classification thresholds", _output),
    ("16", "Methods", "Differences between development and evaluation data", _development_vs_evaluation),
    ("17", "Methods", "Ethics committee and consent", author("the ethics approval and consent")),
    ("18a", "Open science", "Funding", author("funding and the funders' role")),
    ("18b", "Open science", "Conflicts of interest", author("conflicts of interest")),
    ("18c", "Open science", "Protocol", author("where the protocol is, or that there is none")),
    ("18d", "Open science", "Registration", author("registration, or that there is none")),
    ("18e", "Open science", "Data sharing", author("the data's availability")),
    ("18f", "Open science", "Code sharing", source_code),
    ("19", "Patient and public involvement", "Patient and public involvement",
     author("patient and public involvement")),
    ("20a", "Results", "Participant flow, with and without the outcome", _flow),
    ("20b", "Results", "Participant characteristics per data source",
     lambda r: section(r, "baseline", "Table 1 per cohort with missing values")),
    ("20c", "Results", "Evaluation data compared with development data", _development_vs_evaluation),
    ("21", "Results", "Participants and outcome events per analysis", events),
    ("22", "Results", "Full model specification and access",
     lambda r: combine(model_files(r), per_model(r, "selected"), per_model(r, "best_params"))),
    ("23a", "Results", "Performance with confidence intervals, also in subgroups", _performance),
    ("23b", "Results", "Heterogeneity of performance across clusters",
     not_done("heterogeneity across centres is not quantified")),
    ("24", "Results", "Model updating results", lambda r: Finding(NA, "the run does not update a model")),
    ("25", "Discussion", "Interpretation, including fairness", author("the interpretation")),
    ("26", "Discussion", "Limitations", author("the limitations")),
    ("27a", "Discussion", "Handling poor or missing input data in use",
     lambda r: at_most_partly(per_model(r, "selected"), "`radscore predict` flags missing (imputed with the "
                              "training median) and out-of-range inputs; the policy in use is the author's")),
    ("27b", "Discussion", "User interaction and expertise required", author("the expertise users need")),
    ("27c", "Discussion", "Next steps for research", author("the next steps")),
))
