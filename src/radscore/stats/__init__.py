"""Statistics of the evaluation: one pure function per statistic, each returning a frozen
result with named fields and a ``summary`` table (PROTOCOL A10-A11, B5; issue 6)."""

from radscore.stats.discrimination import (
    DeLongTestResult,
    RocAucResult,
    UnpairedDeLongResult,
    delong_test,
    delong_unpaired_test,
    roc_auc_ci,
    roc_curve_table,
)
from radscore.stats.precision_recall import PrCurveResult, pr_curve
from radscore.stats.association import (
    LogisticResult,
    logistic_multivariate,
    logistic_table,
    logistic_univariate,
)
from radscore.stats.calibration import (
    CalibrationResult,
    HosmerLemeshowResult,
    brier_score,
    calibration,
    hosmer_lemeshow,
)
from radscore.stats.cox import (
    CoxResult,
    CoxStepwiseResult,
    cox_multivariate,
    cox_stepwise,
    cox_table,
    cox_univariate,
)
from radscore.stats.decision import NetBenefitResult, net_benefit, survival_net_benefit
from radscore.stats.reclassification import IdiResult, NriResult, idi, nri
from radscore.stats.survival import (
    ConcordanceResult,
    KaplanMeierResult,
    LogRankResult,
    SurvivalCalibrationResult,
    TimeDependentAucResult,
    harrell_c,
    kaplan_meier,
    logrank_test,
    survival_calibration,
    time_dependent_auc,
)
from radscore.stats.threshold import ThresholdMetricsResult, threshold_metrics

__all__ = [
    "CalibrationResult",
    "HosmerLemeshowResult",
    "IdiResult",
    "LogisticResult",
    "NetBenefitResult",
    "NriResult",
    "ThresholdMetricsResult",
    "brier_score",
    "calibration",
    "hosmer_lemeshow",
    "idi",
    "logistic_multivariate",
    "logistic_table",
    "logistic_univariate",
    "net_benefit",
    "survival_net_benefit",
    "nri",
    "threshold_metrics",
    "ConcordanceResult",
    "CoxResult",
    "CoxStepwiseResult",
    "KaplanMeierResult",
    "LogRankResult",
    "SurvivalCalibrationResult",
    "TimeDependentAucResult",
    "cox_multivariate",
    "cox_stepwise",
    "cox_table",
    "cox_univariate",
    "harrell_c",
    "kaplan_meier",
    "logrank_test",
    "survival_calibration",
    "time_dependent_auc",
    "DeLongTestResult",
    "PrCurveResult",
    "RocAucResult",
    "UnpairedDeLongResult",
    "delong_unpaired_test",
    "delong_test",
    "pr_curve",
    "roc_auc_ci",
    "roc_curve_table",
]
