"""Every public statistic is documented with its reference (STYLE: formula + reference)."""

from __future__ import annotations

import inspect
import re

import pytest

import radscore.stats as stats

FUNCTIONS = [n for n in stats.__all__ if inspect.isfunction(getattr(stats, n))]
CITATION = re.compile(r"(References|[A-Z][a-z]+.{0,60}(19|20)\d\d|R [a-zA-Z]+ ``|scikit-learn|lifelines|statsmodels)")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_documented_with_reference(name):
    fn = getattr(stats, name)
    doc = inspect.getdoc(fn) or ""
    module_doc = inspect.getdoc(inspect.getmodule(fn)) or ""
    assert len(doc) > 60, f"{name} needs a docstring"
    assert "References" in module_doc, f"module of {name} lists no references"
    assert CITATION.search(doc + module_doc)


def test_results_are_frozen():
    res = stats.roc_auc_ci([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    with pytest.raises(Exception):
        res.auc = 0.5  # type: ignore[misc]
    assert list(res.summary.columns)[:4] == ["auc", "ci_low", "ci_high", "p_value"]
