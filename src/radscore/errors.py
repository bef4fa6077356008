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
        parts = []
        if self.patient is not None:
            parts.append(f"patient {self.patient}")
        if self.file is not None:
            parts.append(f"{self.file}")
        where = ": ".join(parts)
        text = f"{where}: {self.problem}" if where else self.problem
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

    def with_patient(self, patient: str) -> "RadscoreError":
        """Return the same error attributed to ``patient`` (if not already)."""
        if self.patient is None:
            self.patient = patient
            self.args = (self.message,)
        return self


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


def describe(exc: BaseException) -> str:
    """One line for a QC table or a message: the user's error as is; an unexpected one with
    its type and innermost frame (for a bug report), never header data."""
    import traceback
    from pathlib import Path

    if isinstance(exc, RadscoreError):
        return exc.message
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    if not tb and getattr(exc, "where", ""):  # raised in a worker process (see runtime.executor)
        where = f" (at {exc.where})"
    return f"unexpected error {type(exc).__name__}: {exc}{where}"


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
