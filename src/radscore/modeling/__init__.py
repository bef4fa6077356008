"""Modeling: patient-level split, ICC robustness, leakage-free selection, Radscores, artifacts.

Public names are re-exported here; the science lives in the private-ish modules below.
"""

from radscore.modeling.artifact import LoadedModel, load_model, save_model
from radscore.modeling.compare import ComparisonResult, classifier_zoo, compare_classifiers
from radscore.modeling.evaluate import NestedCvResult, nested_cv_auc
from radscore.modeling.icc import IccFilterResult, IccResult, icc, icc_features, icc_filter
from radscore.modeling.radscore import RadscoreClassifier, feature_subset, youden_cutoff
from radscore.modeling.selection import (
    ConstantFilter,
    CorrelationFilter,
    LassoSelector,
    MrmrSelector,
    UnivariateFilter,
    selection_steps,
    univariate_pvalues,
)
from radscore.modeling.split import split_cohort
from radscore.modeling.train import TrainingResult, train_radscores

__all__ = [
    "ComparisonResult", "ConstantFilter", "CorrelationFilter", "classifier_zoo", "compare_classifiers", "IccFilterResult", "IccResult", "LassoSelector", "LoadedModel",
    "MrmrSelector", "NestedCvResult", "RadscoreClassifier", "TrainingResult", "UnivariateFilter", "feature_subset", "icc",
    "icc_features", "icc_filter", "load_model", "nested_cv_auc", "save_model", "selection_steps", "split_cohort",
    "train_radscores", "univariate_pvalues", "youden_cutoff",
]
