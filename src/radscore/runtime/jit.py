"""The one way radscore compiles its numba kernels, and where that compile runs."""

from __future__ import annotations

import subprocess
import sys

from numba import njit

#: The separate process :func:`compile_in_background` started, until someone waits for it.
_BACKGROUND: list[subprocess.Popen] = []


def kernel(fn):
    """``njit`` with numba's on-disk cache, or without it where no cache location is writable.

    numba refuses ``cache=True`` at decoration time when neither the package folder nor a
    user cache folder can be written (a read-only install without a home directory); the
    kernels then compile once per process (~2 s) instead of failing the import. ``nogil``
    lets threads (the page's scoring, Dask's threaded workers) run kernels side by side.
    """
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:
        return njit(nogil=True)(fn)


def compile_in_background() -> None:
    """Start compiling the extraction kernels into numba's on-disk cache in a separate process.

    On a fresh install the cache is empty and the runner's warm-up (before it forks its
    workers) compiles every kernel, ~20 s on one core while the others wait. The demo starts
    this before it simulates, so the compile overlaps the simulation; the warm-up then waits
    for it (:func:`await_background_compile`) and loads the cache in ~1 s. Where the cache
    is already there the process only loads it. Best effort: if it cannot start or fails,
    the warm-up compiles as it did before.
    """
    if _BACKGROUND:
        return
    code = "from radscore.features.runner import warm_up; warm_up()"
    try:
        _BACKGROUND.append(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    except OSError:
        pass


def await_background_compile() -> None:
    """Wait for the compile :func:`compile_in_background` started (no-op when none runs)."""
    while _BACKGROUND:
        _BACKGROUND.pop().wait()
