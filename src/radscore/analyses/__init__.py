"""The seeds' clinical analyses beyond the classifier (PROTOCOL A12-A15, B1-B5).

:func:`run_analyses` runs every part on an :class:`AnalysisContext` and returns report
sections. A part whose inputs are absent returns a section with ``skipped`` naming them;
a part that cannot run on the data (e.g. one outcome class), needs a statistic this
installation lacks, or fails unexpectedly (logged with its traceback) is also kept, skipped
with the reason, so the report says why and the other parts still run. Configuration
errors (:class:`~radscore.errors.ConfigError`) are raised: they need the user's fix.
"""

from __future__ import annotations

import logging

from radscore.analyses._shared import MissingTool
from radscore.analyses.context import AnalysisContext, patient_table, pick_lesion
from radscore.errors import ConfigError, DataError
from radscore.report.sections import Section

logger = logging.getLogger(__name__)

__all__ = ["AnalysisContext", "PARTS", "patient_table", "pick_lesion", "run_analyses"]

#: (key, title, module) of each part, in report order.
PARTS = (
    ("dynamic", "Dynamic prediction from follow-up scans", "dynamic"),
    ("tps", "Complementarity with PD-L1 TPS", "tps"),
    ("lesions", "Lesion sites and treatment arms", "lesions"),
    ("tme", "TME phenotype (k-means on cell abundances)", "tme"),
    ("immunoscore", "Immunoscore (CD3/CD8, centre and invasive margin)", "immunoscore"),
    ("nomogram", "Nomograms and serum markers", "nomogram"),
    ("radiogenomics", "Radiogenomics", "radiogenomics"),
)


def run_analyses(ctx: AnalysisContext, parts: tuple[str, ...] | None = None) -> list[Section]:
    """Run the clinical analyses and return their report sections.

    Parameters
    ----------
    ctx : AnalysisContext
    parts : tuple of str, optional
        Keys of :data:`PARTS` to run (default all).

    Returns
    -------
    list of Section
        One or more per part, in :data:`PARTS` order; skipped ones carry the reason.
    """
    import importlib

    sections: list[Section] = []
    for key, title, module in PARTS:
        if parts is not None and key not in parts:
            continue
        mod = importlib.import_module(f"radscore.analyses.{module}")
        try:
            got = mod.run(ctx)
        except ConfigError:
            raise
        except MissingTool as exc:
            got = [Section(key, title, skipped=f"needs {exc}")]
        except DataError as exc:
            logger.warning("analysis %s skipped: %s", key, exc.message)
            got = [Section(key, title, skipped=exc.message)]
        except Exception as exc:  # noqa: BLE001 - one analysis failing on odd data must not lose the run
            # recorded, with the traceback in the log, and shown in the report: never silent
            logger.exception("analysis %s failed", key)
            got = [Section(key, title, skipped=f"failed: {exc.__class__.__name__}: {exc}")]
        for s in got:
            _tidy(s)
            logger.info("analysis %s: %s", s.key, "skipped (" + s.skipped + ")" if s.skipped else "done")
        sections.extend(got)
    return sections


def _tidy(section: Section) -> None:
    """Fit every figure's labels inside its canvas (plots drawn by helpers leave that to us)."""
    import warnings

    for fig in section.figures.values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "tight_layout not applied" for exotic layouts is harmless
            fig.tight_layout()
