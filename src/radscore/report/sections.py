"""What every analysis hands to the report: a titled section of text, tables and figures.

Analyses build :class:`Section` objects; the report stage only lays them out (HTML,
CSV for tables, PNG and SVG for figures). A section whose inputs are absent is kept
with ``skipped`` set to the reason, so the report says why it is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


def slug(text: str) -> str:
    """``Calibration, testing`` -> ``calibration_testing``: file names and HTML anchors."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def anchor(key: str, name: str) -> str:
    """The report's anchor (and file stem) of a section's table or figure: ``<key>_<slug(name)>``."""
    return f"{key}_{slug(name)}"


def methods_anchor(heading: str) -> str:
    """The report's anchor of a methods paragraph: ``methods_<slug(heading)>``."""
    return f"methods_{slug(heading)}"


@dataclass
class Section:
    """One report section.

    Parameters
    ----------
    key : str
        Short identifier used for file names (``tables/<key>_<name>.csv``).
    title : str
        Heading shown in the report.
    text : str
        Plain-text paragraphs (methods/results prose), may be empty.
    tables : dict of str to DataFrame
        Named tables, in display order.
    figures : dict of str to matplotlib Figure
        Named figures, in display order.
    skipped : str, optional
        Why the analysis did not run (its inputs are absent); shown instead of content.
    """

    key: str
    title: str
    text: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
