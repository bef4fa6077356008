"""The one way radscore compiles its numba kernels."""

from __future__ import annotations

from numba import njit


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
