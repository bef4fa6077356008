"""Thread limits of the BLAS/OpenMP pools, with the loaded libraries looked up once per process."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def limit_blas_threads(n: int):
    """Context manager: the BLAS/OpenMP pools limited to ``n`` threads, restored on exit.

    ``threadpoolctl.threadpool_limits`` inspects every loaded library on each call (~4 ms);
    the extraction enters a limit ~20 times per scan, so the libraries are looked up once,
    at the first call in a process (a library loaded later is not limited).
    """
    return _controller().limit(limits=n)
