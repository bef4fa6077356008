"""The study report: one self-contained HTML file, with tables as CSV and figures as PNG/SVG beside it.

The report only lays out what the stages computed (:class:`~radscore.report.sections.Section`
objects, the metrics, the QC table and the parameter record); it computes nothing itself.
"""

from __future__ import annotations

import base64
import html
import platform
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from radscore.report.sections import Section
from radscore.runtime.files import atomic_write_bytes, atomic_write_csv, atomic_write_text

VERSIONED_PACKAGES = ("radscore", "numpy", "scipy", "pandas", "SimpleITK", "pydicom", "pyradiomics-bhklab",
                      "pywavelets", "scikit-learn", "xgboost-cpu", "lifelines", "scikit-survival", "statsmodels",
                      "matplotlib", "dask")


@dataclass
class ReportInputs:
    """What the report shows, gathered by the pipeline."""

    title: str
    summary: dict[str, Any]
    sections: list[Section]
    qc: pd.DataFrame
    parameters: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _table_html(df: pd.DataFrame) -> str:
    fmt = df.copy()
    for c in fmt.columns:
        if pd.api.types.is_float_dtype(fmt[c]):
            fmt[c] = fmt[c].map(lambda v: "" if pd.isna(v) else (f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"))
    return fmt.to_html(index=False, border=0, classes="tbl", na_rep="", escape=True)


def _n_excluded(qc: pd.DataFrame) -> int:
    if qc.empty or "severity" not in qc.columns:
        return 0
    return int((qc["severity"] == "excluded").sum())


def write_report(inputs: ReportInputs, out_dir: str | Path) -> Path:
    """Write ``report.html`` plus ``tables/*.csv`` and ``figures/*.png|svg`` into ``out_dir``.

    The HTML embeds its CSS and every figure (PNG data URIs), so it opens offline as one
    file; ``tables/reporting_checklist.csv`` holds the IBSI/CLEAR checklist derived from
    ``inputs.parameters`` (see :mod:`radscore.report.methods`).
    """
    from radscore.report.figures import figure_bytes
    from radscore.report.methods import methods_paragraphs, reporting_checklist

    out_dir = Path(out_dir)
    rendered = []
    for sec in inputs.sections:
        item = {"key": sec.key, "title": sec.title, "text": sec.text, "skipped": sec.skipped, "tables": [], "figures": []}
        for name, df in sec.tables.items():
            if df is None:
                continue
            fname = f"{sec.key}_{_slug(name)}.csv"
            atomic_write_csv(out_dir / "tables" / fname, df)
            item["tables"].append({"name": name, "html": _table_html(df), "csv": f"tables/{fname}"})
        for name, fig in sec.figures.items():
            stem = f"{sec.key}_{_slug(name)}"
            png = figure_bytes(fig, "png", dpi=150)
            atomic_write_bytes(out_dir / "figures" / f"{stem}.png", png)
            atomic_write_bytes(out_dir / "figures" / f"{stem}.svg", figure_bytes(fig, "svg"))
            item["figures"].append({"name": name, "src": "data:image/png;base64," + base64.b64encode(png).decode(),
                                    "files": f"figures/{stem}.png, .svg"})
        rendered.append(item)
    qc_html = _table_html(inputs.qc) if not inputs.qc.empty else ""
    if not inputs.qc.empty:
        atomic_write_csv(out_dir / "tables" / "qc.csv", inputs.qc)
    checklist = reporting_checklist(inputs.parameters, inputs.sections)
    atomic_write_csv(out_dir / "tables" / "reporting_checklist.csv", checklist)
    n_cov = int((checklist["covered"] == "covered").sum())
    env = Environment(loader=PackageLoader("radscore.report", "templates"), autoescape=select_autoescape(["html"]))
    css = (Path(__file__).parent / "templates" / "report.css").read_text()
    page = env.get_template("report.html").render(
        title=inputs.title, summary=inputs.summary, sections=rendered, qc_html=qc_html, css=css,
        parameters=inputs.parameters, notes=inputs.notes, esc=html.escape,
        methods=methods_paragraphs(inputs.parameters), checklist=checklist.to_dict("records"),
        checklist_counts=(n_cov, len(checklist)), n_excluded=_n_excluded(inputs.qc),
    )
    return atomic_write_text(out_dir / "report.html", page)
