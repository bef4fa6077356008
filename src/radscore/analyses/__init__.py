"""The seeds' clinical analyses beyond the classifier (PROTOCOL A12-A15, B1-B5).

Each part module has ``compute(ctx)``, returning a frozen result, and the result's
``sections()`` builds its report sections. :func:`run_analyses` runs the parts on an
:class:`AnalysisContext`:

* :class:`~radscore.errors.ConfigError` is raised: it needs the user's fix;
* absent inputs or data that cannot support a part (:class:`~radscore.errors.DataError`,
  other :class:`~radscore.errors.RadscoreError`) and a missing optional package
  (:class:`OptionalDependencyMissing`) give sections with ``skipped`` saying why;
* any other exception is a bug: it is raised in strict mode (``RADSCORE_STRICT=1``, set by
  the tests) and otherwise logged in one line (the traceback with ``--verbose``) and shown as
  a failed section, so one part failing on odd data does not lose a user's run.
"""

from __future__ import annotations

import logging
import os
import warnings

from radscore.analyses import dynamic, immunoscore, lesions, nomogram, radiogenomics, tme, tps
from radscore.analyses._shared import OptionalDependencyMissing
from radscore.analyses.context import AnalysisContext, patient_table
from radscore.errors import ConfigError, RadscoreError, describe
from radscore.report.sections import Section

logger = logging.getLogger(__name__)

__all__ = ["AnalysisContext", "OptionalDependencyMissing", "PARTS", "patient_table", "run_analyses"]

#: (key, module) of each part, in report order; ``module.SECTIONS`` lists its (key, title)s.
PARTS = (
    ("dynamic", dynamic),
    ("tps", tps),
    ("lesions", lesions),
    ("tme", tme),
    ("immunoscore", immunoscore),
    ("nomogram", nomogram),
    ("radiogenomics", radiogenomics),
)


def run_analyses(ctx: AnalysisContext, parts: tuple[str, ...] | None = None, *,
                 strict: bool | None = None) -> list[Section]:
    """Run the clinical analyses and return their report sections.

    Parameters
    ----------
    ctx : AnalysisContext
    parts : tuple of str, optional
        Keys of :data:`PARTS` to run (default all).
    strict : bool, optional
        Raise unexpected exceptions instead of recording them; None: strict when the
        environment variable ``RADSCORE_STRICT`` is ``"1"``.

    Returns
    -------
    list of Section
        The sections of each part, in :data:`PARTS` order; skipped ones carry the reason.
    """
    known = [key for key, _ in PARTS]
    unknown = sorted(set(parts or ()) - set(known))
    if unknown:
        raise ValueError(f"unknown analysis part(s) {unknown}; known: {known}")
    if strict is None:
        strict = os.environ.get("RADSCORE_STRICT") == "1"
    sections: list[Section] = []
    for key, module in PARTS:
        if parts is not None and key not in parts:
            continue
        try:
            got = module.compute(ctx).sections()
        except ConfigError:
            raise
        except RadscoreError as exc:
            logger.warning("analysis %s skipped: %s", key, exc.message)
            got = _skipped(module, exc.message)
        except OptionalDependencyMissing as exc:
            logger.warning("analysis %s skipped: %s", key, exc)
            got = _skipped(module, str(exc))
        except Exception as exc:
            if strict:
                raise
            # A bug, not the user's data: one line on the terminal (a traceback there reads as a
            # crash of the whole run, which goes on); the traceback with --verbose.
            logger.error("analysis %s failed, its sections are left out (a radscore bug, please report it with "
                         "the output of 'radscore -v'): %s", key, describe(exc))
            logger.debug("analysis %s traceback", key, exc_info=True)
            got = _skipped(module, f"failed: {describe(exc)} (a radscore bug; 'radscore -v' logs its traceback)")
        for s in got:
            _tidy(s)
            logger.info("analysis %s: %s", s.key, "skipped (" + s.skipped + ")" if s.skipped else "done")
        sections.extend(got)
    return sections


def _skipped(module, reason: str) -> list[Section]:
    """Every section of ``module``, skipped with ``reason``."""
    return [Section(key, title, skipped=reason) for key, title in module.SECTIONS]


def _tidy(section: Section) -> None:
    """Fit every figure's labels inside its canvas (plots drawn by helpers leave that to us)."""
    for fig in section.figures.values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "tight_layout not applied" for exotic layouts is harmless
            fig.tight_layout()
