"""Errors a user can act on.

Every error raised for bad input is a :class:`RadscoreError` carrying the patient,
the file and the problem, plus the fix where one is known, so the CLI can print one
readable line instead of a traceback from deep inside numpy or SimpleITK.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Exit codes of the command line, documented in the README.
EXIT_OK = 0
EXIT_INPUT = 2  # bad input: config, manifest, image or model file
EXIT_DATA = 3  # the data cannot support the analysis (e.g. one outcome class)
EXIT_IO = 4  # the output folder cannot be written


class RadscoreError(Exception):
    """An error caused by the user's input, with what to do about it.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    patient : str, optional
        The manifest patient ID (never a DICOM header identifier).
    file : str, optional
        The file or config key involved.
    fix : str, optional
        What the user can do.
    exit_code : int
        Exit code the CLI returns.
    """

    exit_code = EXIT_INPUT

    def __init__(
        self,
        problem: str,
        *,
        patient: str | None = None,
        file: str | None = None,
        fix: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        self.problem = problem
        self.patient = patient
        self.file = file
        self.fix = fix
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return _line(self.patient, None, self.file, self.problem, self.fix)

    def with_patient(self, patient: str) -> "RadscoreError":
        """Return the same error attributed to ``patient`` (if not already)."""
        if self.patient is None:
            self.patient = patient
            self.args = (self.message,)
        return self


class UsageError(RadscoreError):
    """A command-line argument cannot be used as given (e.g. ``--out`` in a folder that does not exist)."""


class ConfigError(RadscoreError):
    """A study.yaml key is unknown, has the wrong type or an impossible value."""


class ImageError(RadscoreError):
    """An image or mask cannot be read or used."""


class ManifestError(RadscoreError):
    """The manifest is malformed."""


class DataError(RadscoreError, ValueError):
    """The data cannot support the requested analysis (too few patients of a class, a
    wrong outcome coding...). Also a ``ValueError``: scikit-learn's estimator contract asks
    estimators to raise that for unusable input."""

    exit_code = EXIT_DATA


class ModelFileError(RadscoreError):
    """A model artifact is missing, tampered with or from an incompatible version."""


class OutputError(RadscoreError):
    """The output folder cannot be written (read-only, disk full)."""

    exit_code = EXIT_IO


def _line(patient: str | None, scan: str | None, file: str | None, problem: str, fix: str | None) -> str:
    """``patient X (scan): F: problem Fix: ...``, leaving out the parts that are None."""
    parts = []
    if patient is not None:
        parts.append(f"patient {patient}" + (f" ({scan})" if scan else ""))
    if file is not None:
        parts.append(f"{file}")
    where = ": ".join(parts)
    text = f"{where}: {problem}" if where else problem
    if fix:  # after a list of problems, one per line, the fix goes on its own line
        text += f"{chr(10) if chr(10) in problem else ' '}Fix: {fix}"
    return text


def describe(exc: BaseException, *, patient: str | None = None, scan: str | None = None) -> str:
    """One line for a QC table, a log or a message: the user's error as is; an unexpected one
    with its type and innermost frame (for a bug report), never header data.

    Parameters
    ----------
    patient : str, optional
        The manifest ID the error belongs to, named when the error names none. The line
        names the patient once, so callers add no ``patient X:`` prefix of their own.
    scan : str, optional
        Which of the patient's scans, e.g. ``"baseline, lesion 1"``: in brackets after the ID.
    """
    import traceback
    from pathlib import Path

    if isinstance(exc, RadscoreError):
        who = exc.patient if exc.patient is not None else patient
        return _line(who, scan if who is not None else None, exc.file, exc.problem, exc.fix)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    if not tb and getattr(exc, "where", ""):  # raised in a worker process (see runtime.executor)
        where = f" (at {exc.where})"
    return _line(patient, scan, None, f"unexpected error {type(exc).__name__}: {exc}{where}", None)


class MissingExtraError(RadscoreError):
    """An optional part of radscore is used without the pip extra that installs its packages."""


def require_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` of the optional ``extra``, or say which extra to install.

    Parameters
    ----------
    module : str
        The import name (``"fastapi"``, ``"dask.distributed"``).
    extra : str
        The ``radscore`` extra that installs it (``web``, ``distributed``, ``tme``, ``deep``).
    what : str
        The feature that needs it, for the message (``"radscore serve"``).

    Raises
    ------
    MissingExtraError
        ``"radscore serve needs the web extra: pip install 'radscore[web]'"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{what} needs the {extra} extra ({module} is not installed).",
            fix=f"pip install 'radscore[{extra}]'",
        ) from None
