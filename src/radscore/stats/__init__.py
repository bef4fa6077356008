"""Statistics of the evaluation: one pure function per statistic, each returning a frozen
result with named fields and a ``summary`` table (PROTOCOL A10-A11, B5; issue 6)."""

from radscore.stats.discrimination import (
    DeLongTestResult,
    PrCurveResult,
    RocAucResult,
    delong_test,
    pr_curve,
    roc_auc_ci,
    roc_curve_table,
)

__all__ = [
    "DeLongTestResult",
    "PrCurveResult",
    "RocAucResult",
    "delong_test",
    "pr_curve",
    "roc_auc_ci",
    "roc_curve_table",
]
