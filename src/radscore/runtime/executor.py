"""Run one function over many items: in-process, on local processes, or on Dask.

Results come back as they finish (not in submission order) so the caller can cache
each one at once; a crash then loses only the items still running.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskResult:
    """One item's outcome: ``value`` when it succeeded, ``error`` (an exception) when not."""

    index: int
    value: Any = None
    error: BaseException | None = None


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def run_tasks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
) -> Iterator[TaskResult]:
    """Apply ``fn`` to each item, yielding :class:`TaskResult` as each finishes.

    Parameters
    ----------
    fn : callable
        A module-level function (it is sent to other processes).
    items : sequence
        Arguments, one call each.
    workers : int, optional
        Local processes; 1 runs in this process. Default: number of cores.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``); overrides
        ``workers``.
    """
    if not items:
        return
    if scheduler is not None:
        yield from _run_dask(fn, items, scheduler)
        return
    workers = workers or default_workers()
    if workers == 1 or len(items) == 1:
        for i, item in enumerate(items):
            try:
                yield TaskResult(i, value=fn(item))
            except Exception as exc:  # reported per item; the cohort carries on
                yield TaskResult(i, error=exc)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                yield TaskResult(i, value=fut.result())
            except BrokenProcessPool as exc:
                yield TaskResult(i, error=RuntimeError(
                    f"the worker process died ({exc}); it may have run out of memory"))
            except Exception as exc:
                yield TaskResult(i, error=exc)


def _run_dask(fn: Callable[[Any], Any], items: Sequence[Any], address: str) -> Iterator[TaskResult]:
    from dask.distributed import Client, as_completed as dask_completed

    with Client(address, set_as_default=False) as client:
        futures = client.map(fn, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in dask_completed(futures):
            i = index[fut.key]
            try:
                yield TaskResult(i, value=fut.result())
            except Exception as exc:
                yield TaskResult(i, error=exc)
