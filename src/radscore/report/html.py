"""The study report: one self-contained HTML file, with tables as CSV and figures as PNG/SVG beside it.

The report only lays out what the stages computed and recorded (:class:`~radscore.report.sections.Section`
objects, the QC table, the settings, the run's provenance and the model stage's record); it
computes nothing itself. The methods section, per-scan table, parameter record and the
reporting checklists (TRIPOD+AI, CLEAR, METRICS, IBSI) are built from the typed records by
:mod:`radscore.report.methods` and :mod:`radscore.report.checklist`. Every methods paragraph,
section table and figure has an anchor (``methods_<heading>``, ``<section key>_<name>``) that
the checklists' ``where`` column points to.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from radscore.config import StudyConfig
from radscore.modeling.train import ModelStageRecord
from radscore.report.sections import Section, anchor, methods_anchor
from radscore.runtime.executor import map_tasks
from radscore.runtime.files import atomic_write_bytes, atomic_write_csv, atomic_write_text
from radscore.runtime.provenance import Provenance


@dataclass
class ReportInputs:
    """What the report shows, gathered by the pipeline.

    Attributes
    ----------
    title : str
    summary : dict
        Headline -> text, shown first.
    sections : list of Section
        The analyses, in display order.
    qc : DataFrame
        Exclusions and warnings (``severity`` column), may be empty.
    config : StudyConfig
        The settings of the run.
    provenance : Provenance
        Software, settings hash, inputs and every scan's steps (also written by the run as
        ``provenance.json``, which the report points to).
    models : ModelStageRecord or None
        What the model stage fitted; None when it did not run.
    notes : list of str
        Shown under the title (e.g. "simulated data").
    """

    title: str
    summary: dict[str, Any]
    sections: list[Section]
    qc: pd.DataFrame
    config: StudyConfig
    provenance: Provenance
    models: ModelStageRecord | None
    notes: list[str] = field(default_factory=list)


def _table_html(df: pd.DataFrame) -> str:
    fmt = df.copy()
    for c in fmt.columns:
        if pd.api.types.is_float_dtype(fmt[c]):
            fmt[c] = fmt[c].map(lambda v: "" if pd.isna(v) else (f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"))
    # blank for every missing value: None in text columns and <NA> in nullable integers too
    fmt = fmt.astype(object).where(fmt.notna(), "")
    return fmt.to_html(index=False, border=0, classes="tbl", na_rep="", escape=True)


def _n_excluded(qc: pd.DataFrame) -> int:
    if qc.empty or "severity" not in qc.columns:
        return 0
    return int((qc["severity"] == "excluded").sum())


def _encode(fig) -> tuple[bytes, bytes]:
    """A figure's PNG (150 dpi) and SVG bytes (a task of :func:`write_report`'s workers)."""
    from radscore.report.figures import figure_bytes

    return figure_bytes(fig, "png", dpi=150), figure_bytes(fig, "svg")


def write_report(inputs: ReportInputs, out_dir: str | Path, *, workers: int | None = 1) -> Path:
    """Write ``report.html`` plus ``tables/*.csv`` and ``figures/*.png|svg`` into ``out_dir``.

    ``workers``: processes that render the figures (1: this process; None: every core); the
    bytes do not depend on it.

    The HTML embeds its CSS and every figure (PNG data URIs), so it opens offline as one
    file. ``tables/methods_scans.csv`` holds the per-scan table and
    ``tables/checklist_<name>.csv`` each reporting checklist (``tripod_ai``, ``clear``,
    ``metrics``, ``ibsi``), all derived from the typed records (see :mod:`radscore.report.methods`
    and :mod:`radscore.report.checklist`).
    """
    from radscore.report.checklist import CHECKLISTS, metrics_score, reporting_checklists, status_counts
    from radscore.report.methods import methods_paragraphs, parameter_blocks, scan_table

    out_dir = Path(out_dir)
    # forked workers inherit the figures (nothing pickled): a study's ~150 took ~30 s on one core
    encoded = iter(map_tasks(_encode, [fig for sec in inputs.sections for fig in sec.figures.values()],
                             workers=workers, desc="report figures", unit="figure"))
    rendered = []
    for sec in inputs.sections:
        item = {"key": sec.key, "title": sec.title, "text": sec.text, "skipped": sec.skipped, "tables": [], "figures": []}
        for name, df in sec.tables.items():
            if df is None:
                continue
            stem = anchor(sec.key, name)
            atomic_write_csv(out_dir / "tables" / f"{stem}.csv", df)
            item["tables"].append({"name": name, "id": stem, "html": _table_html(df), "csv": f"tables/{stem}.csv"})
        for name, fig in sec.figures.items():
            stem = anchor(sec.key, name)
            png, svg = next(encoded)
            atomic_write_bytes(out_dir / "figures" / f"{stem}.png", png)
            atomic_write_bytes(out_dir / "figures" / f"{stem}.svg", svg)
            item["figures"].append({"name": name, "id": stem, "src": "data:image/png;base64," + base64.b64encode(png).decode(),
                                    "files": f"figures/{stem}.png, .svg"})
        rendered.append(item)
    qc_html = _table_html(inputs.qc) if not inputs.qc.empty else ""
    if not inputs.qc.empty:
        atomic_write_csv(out_dir / "tables" / "qc.csv", inputs.qc)
    scans = scan_table(inputs.provenance)
    atomic_write_csv(out_dir / "tables" / "methods_scans.csv", scans)
    checklists = []
    for name, table in reporting_checklists(inputs.config, inputs.provenance, inputs.models, inputs.sections,
                                            inputs.qc).items():
        atomic_write_csv(out_dir / "tables" / f"checklist_{name}.csv", table)
        checklists.append({"name": name, "title": CHECKLISTS[name].title, "reference": CHECKLISTS[name].reference,
                           "rows": table.to_dict("records"), "counts": status_counts(table),
                           "score": metrics_score(table) if name == "metrics" else None})
    env = Environment(loader=PackageLoader("radscore.report", "templates"), autoescape=select_autoescape(["html"]))
    css = (Path(__file__).parent / "templates" / "report.css").read_text()
    page = env.get_template("report.html").render(
        title=inputs.title, summary=inputs.summary, sections=rendered, qc_html=qc_html, css=css,
        notes=inputs.notes, software=inputs.provenance.software,
        methods=[(methods_anchor(head), head, text)
                 for head, text in methods_paragraphs(inputs.config, inputs.provenance, inputs.models)],
        scans_html=_table_html(scans) if not scans.empty else "", n_scans=len(scans),
        parameters=parameter_blocks(inputs.config, inputs.models, software=inputs.provenance.software),
        checklists=checklists, n_excluded=_n_excluded(inputs.qc),
    )
    return atomic_write_text(out_dir / "report.html", page)
