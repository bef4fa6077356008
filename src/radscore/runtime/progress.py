"""Progress bars for long loops: on a terminal, silent in tests and under ``--quiet``."""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Bars show on an interactive stderr unless RADSCORE_QUIET is set."""
    return sys.stderr.isatty() and not os.environ.get("RADSCORE_QUIET")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it"):
    """A tqdm bar with rate and ETA, disabled when :func:`progress_enabled` is false."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not progress_enabled(), dynamic_ncols=True)
