"""Run one function over many items: in-process, on local processes, or on Dask.

Results come back as they finish (not in submission order) so the caller can cache
each one at once; a crash then loses only the items still running.

The local pool is written here rather than taken from ``concurrent.futures``: when
one worker of a ``ProcessPoolExecutor`` dies (killed by the OS for memory, or by
``kill -9``) the whole pool is declared broken and every pending item fails with it.
Here each worker holds exactly one item at a time, so a dead worker costs only the
item it held: that item is reported (with the signal that ended it), a fresh worker
takes its place and the remaining items carry on.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from radscore.errors import RadscoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskResult:
    """One item's outcome: ``value`` when it succeeded, ``error`` (an exception) when not."""

    index: int
    value: Any = None
    error: BaseException | None = None


_EXIT_OUT_OF_MEMORY = 86  # a worker's own exit code for "cannot even receive an item"


class WorkerError(RadscoreError):
    """A worker process died or ran out of memory while processing one item."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def run_tasks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit_gb: float | None = None,
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
    memory_limit_gb : float, optional
        Address-space limit of each local worker process (``RLIMIT_AS``). An item that
        exceeds it is reported as an error instead of taking the machine down. Not
        applied when ``workers`` is 1 (the work then runs in this process).
    """
    if not items:
        return
    if scheduler is not None:
        yield from _run_dask(fn, items, scheduler)
        return
    workers = workers or default_workers()
    if workers == 1 and memory_limit_gb is None:
        for i, item in enumerate(items):
            try:
                yield TaskResult(i, value=fn(item))
            except Exception as exc:  # reported per item; the cohort carries on
                yield TaskResult(i, error=exc)
        return
    yield from _run_local(fn, items, min(workers, len(items)), memory_limit_gb)


# --------------------------------------------------------------------------- workers
def _limit_memory(limit_gb: float | None) -> None:
    if limit_gb is None:
        return
    import resource

    limit = int(limit_gb * 1024**3)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""


def _out_of_memory(exc: BaseException) -> bool:
    """numpy raises MemoryError; ITK (SimpleITK) and XGBoost raise RuntimeError naming bad_alloc."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("bad_alloc" in text or "Failed to allocate" in text)


def _worker_main(conn: Connection, fn: Callable[[Any], Any], limit_gb: float | None,
                 items: Sequence[Any] | None) -> None:
    """Loop: receive (index, item) or, when ``items`` came with the fork, (index,); send
    (index, ok, value-or-exception); ``None`` stops."""
    # The parent handles Ctrl-C and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_memory(limit_gb)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:  # the limit is below what the worker already holds
            os._exit(_EXIT_OUT_OF_MEMORY)
        if msg is None:
            return
        index, item = (msg[0], items[msg[0]]) if items is not None else msg
        try:
            reply = (index, True, fn(item))
        except BaseException as exc:  # noqa: BLE001 - every failure is reported for its item
            if _out_of_memory(exc):
                exc = WorkerError(
                    f"ran out of memory (worker limit {limit_gb} GB)." if limit_gb else "ran out of memory.",
                    fix="raise runtime.memory_limit_gb in study.yaml or run fewer workers.")
            else:
                # The traceback does not cross processes; keep its innermost frame for bug reports.
                exc.__dict__.setdefault("where", _where(exc))
            reply = (index, False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            conn.send((index, False, RuntimeError(f"the result could not be sent back ({type(exc).__name__}: {exc})")))


def _death_error(exitcode: int | None, limit_gb: float | None) -> WorkerError:
    if exitcode == _EXIT_OUT_OF_MEMORY:
        return WorkerError(f"ran out of memory before starting (worker limit {limit_gb} GB is below what the "
                           "libraries alone need).", fix="raise runtime.memory_limit_gb in study.yaml.")
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        cause = f"the worker process was killed by {name}"
    else:
        cause = f"the worker process exited unexpectedly (exit code {exitcode})"
    hint = "it was killed from outside or by the operating system, most often for lack of memory."
    fix = ("raise runtime.memory_limit_gb or run fewer workers; " if limit_gb else "run fewer workers; ") + \
        "rerun the study to retry this scan (finished scans are cached)."
    return WorkerError(f"{cause}; {hint}", fix=fix)


class _Worker:
    def __init__(self, ctx, fn, limit_gb, items) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, fn, limit_gb, items), daemon=True)
        self.proc.start()
        child.close()
        self.task: int | None = None

    def stop(self, force: bool) -> None:
        if force and self.proc.is_alive():
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, ValueError):  # already dead or closed
                pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _run_local(fn, items: Sequence[Any], n_workers: int, limit_gb: float | None) -> Iterator[TaskResult]:
    ctx = mp.get_context()
    # A forked worker already holds the items (copy-on-write): it is sent only the index. With
    # images as items this saves pickling and piping ~20 MB per item in the parent, which
    # otherwise takes CPU from the workers (measured ~0.1 s per (patient, image) task).
    inherited = items if ctx.get_start_method() == "fork" else None
    pending = list(range(len(items)))[::-1]  # popped from the end: submission order
    pool: list[_Worker] = []
    clean = False
    try:
        for _ in range(n_workers):
            pool.append(_Worker(ctx, fn, limit_gb, inherited))
        def assign(slot: int) -> None:
            if not pending:
                return
            i = pending.pop()
            for _ in range(2):
                try:
                    pool[slot].conn.send((i,) if inherited is not None else (i, items[i]))
                    pool[slot].task = i
                    return
                except OSError:
                    # Died while idle, between two items: no work lost; replace it and hand over.
                    pool[slot].stop(force=True)
                    pool[slot] = _Worker(ctx, fn, limit_gb, inherited)
            pending.append(i)
            raise RuntimeError("cannot start a worker process")

        for slot in range(len(pool)):
            assign(slot)
        while any(w.task is not None for w in pool):
            busy = [w for w in pool if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for w in busy:
                result = None
                if w.conn in ready or (w.proc.sentinel in ready and w.conn.poll()):
                    try:
                        index, ok, payload = w.conn.recv()
                        result = TaskResult(index, value=payload) if ok else TaskResult(index, error=payload)
                    except Exception:  # noqa: BLE001 - EOF or a cut-off message: the worker died replying
                        pass
                if result is None and (w.conn in ready or w.proc.sentinel in ready):
                    w.stop(force=True)  # dead, or alive with a broken pipe: either way replaced
                    log.warning("worker %s died holding item %d (exit code %s); starting a new worker",
                                w.proc.pid, w.task, w.proc.exitcode)
                    result = TaskResult(w.task, error=_death_error(w.proc.exitcode, limit_gb))
                    pool[pool.index(w)] = w = _Worker(ctx, fn, limit_gb, inherited)
                if result is None:
                    continue
                w.task = None
                assign(pool.index(w))
                yield result
        clean = True
    finally:
        # Normal end: ask workers to exit. Abandoned (error or Ctrl-C in the caller): kill them,
        # so no orphan keeps computing or writing after the run has stopped.
        for w in pool:
            w.stop(force=not clean)


def _run_dask(fn: Callable[[Any], Any], items: Sequence[Any], address: str) -> Iterator[TaskResult]:
    from dask.distributed import Client, as_completed as dask_completed

    with Client(address, set_as_default=False) as client:
        futures = client.map(fn, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in dask_completed(futures, loop=client.loop):  # our client is not the default one
            i = index[fut.key]
            try:
                yield TaskResult(i, value=fut.result())
            except Exception as exc:
                yield TaskResult(i, error=exc)
