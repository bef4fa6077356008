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

import heapq
import logging
import multiprocessing as mp
import os
import signal
import traceback
import uuid
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
    with TaskPool(fn, workers=min(workers or default_workers(), len(items)), scheduler=scheduler,
                  memory_limit_gb=memory_limit_gb) as pool:
        for item in items:
            pool.submit(item)
        yield from pool.results()


def map_tasks(fn: Callable[[Any], Any], items: Sequence[Any], *, workers: int | None = None,
              desc: str = "", unit: str = "item") -> list[Any]:
    """``[fn(item) for item in items]`` on :func:`run_tasks`' workers, in the order of ``items``,
    with a progress bar; for work whose items must all succeed (the first failure is raised)."""
    from radscore.runtime.progress import progress

    out: list[Any] = [None] * len(items)
    with progress(total=len(items), desc=desc, unit=unit) as bar:
        for res in run_tasks(fn, items, workers=workers):
            if res.error is not None:
                raise res.error
            out[res.index] = res.value
            bar.update(1)
    return out


class TaskPool:
    """Run ``fn`` over items submitted at any time, also while results are coming in.

    A task graph in its simplest form: the caller submits the first items, iterates
    :meth:`results`, and may submit follow-up items for each result (e.g. the feature
    tasks of a scan once the scan is prepared). Higher ``priority`` runs first among
    the waiting items. Locally, forked workers inherit the items submitted before they
    started (only the index crosses the pipe); later items are sent pickled.

    Parameters
    ----------
    fn : callable
        A module-level function.
    workers : int, optional
        Local processes; 1 runs in this process. Default: number of cores.
    scheduler : str, optional
        ``dask.distributed`` scheduler address; overrides ``workers``.
    memory_limit_gb : float, optional
        ``RLIMIT_AS`` of each local worker (not applied in-process).
    """

    def __init__(self, fn: Callable[[Any], Any], *, workers: int | None = None, scheduler: str | None = None,
                 memory_limit_gb: float | None = None) -> None:
        self.fn = fn
        self.items: list[Any] = []
        self._waiting: list[tuple[int, int]] = []  # heap of (-priority, index)
        self._scheduler = scheduler
        self._workers = workers or default_workers()
        self._limit = memory_limit_gb
        self._in_process = scheduler is None and self._workers == 1 and memory_limit_gb is None
        self._backend: _LocalPool | _DaskPool | None = None

    @property
    def size(self) -> int:
        """Local worker processes (1 in process; 0 on a Dask cluster: its size is not ours to know)."""
        return 0 if self._scheduler is not None else (1 if self._in_process else self._workers)

    @property
    def parallel(self) -> bool:
        """Whether items run in other processes (each then should use one thread)."""
        return not self._in_process

    def submit(self, item: Any, *, priority: int = 0) -> int:
        """Queue ``item``; returns its index (the ``index`` of its :class:`TaskResult`)."""
        index = len(self.items)
        self.items.append(item)
        heapq.heappush(self._waiting, (-priority, index))
        if isinstance(self._backend, _DaskPool):
            self._backend.submit(index, priority)
            self._waiting.clear()
        return index

    def _next_waiting(self) -> int | None:
        return heapq.heappop(self._waiting)[1] if self._waiting else None

    def results(self) -> Iterator[TaskResult]:
        """Results as they finish, until no item is waiting or running."""
        if self._in_process:
            while (i := self._next_waiting()) is not None:
                try:
                    yield TaskResult(i, value=self.fn(self.items[i]))
                except Exception as exc:  # reported per item; the cohort carries on
                    yield TaskResult(i, error=exc)
            return
        if self._backend is None:
            if self._scheduler is not None:
                self._backend = _DaskPool(self, self._scheduler)
            else:
                self._backend = _LocalPool(self, self._workers, self._limit)
        yield from self._backend.results()

    def close(self, force: bool = False) -> None:
        if self._backend is not None:
            self._backend.close(force)
            self._backend = None

    def __enter__(self) -> "TaskPool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Abandoned (error or Ctrl-C in the caller): kill the workers, so no orphan keeps
        # computing or writing after the run has stopped.
        self.close(force=exc_type is not None)


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
    """Loop: receive (index, item) or, for an item that came with the fork, (index,); send
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
        index, item = (msg[0], items[msg[0]]) if len(msg) == 1 else msg
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
        self.n_inherited = len(items) if items is not None else 0

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


class _LocalPool:
    """Local worker processes, one item each at a time (see the module docstring)."""

    def __init__(self, pool: TaskPool, n_workers: int, limit_gb: float | None) -> None:
        self.pool = pool
        self.limit_gb = limit_gb
        self.ctx = mp.get_context()
        self.fork = self.ctx.get_start_method() == "fork"
        self.workers: list[_Worker] = []
        self.n_workers = max(1, n_workers)
        self.clean = False

    def _start(self) -> _Worker:
        # A forked worker already holds the items submitted so far (copy-on-write) and is
        # sent only their index. With images as items this saves pickling and piping
        # ~20 MB per item in the parent, which otherwise takes CPU from the workers.
        inherited = list(self.pool.items) if self.fork else None
        return _Worker(self.ctx, self.pool.fn, self.limit_gb, inherited)

    def _assign(self, slot: int) -> None:
        i = self.pool._next_waiting()
        if i is None:
            return
        for _ in range(2):
            w = self.workers[slot]
            try:
                w.conn.send((i,) if i < w.n_inherited else (i, self.pool.items[i]))
                w.task = i
                return
            except OSError:
                # Died while idle, between two items: no work lost; replace it and hand over.
                w.stop(force=True)
                self.workers[slot] = self._start()
        heapq.heappush(self.pool._waiting, (0, i))
        raise RuntimeError("cannot start a worker process")

    def results(self) -> Iterator[TaskResult]:
        while len(self.workers) < self.n_workers and self.pool._waiting:
            self.workers.append(self._start())
        for slot, w in enumerate(self.workers):
            if w.task is None:
                self._assign(slot)
        while any(w.task is not None for w in self.workers):
            busy = [w for w in self.workers if w.task is not None]
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
                    result = TaskResult(w.task, error=_death_error(w.proc.exitcode, self.limit_gb))
                    slot = self.workers.index(w)
                    self.workers[slot] = w = self._start()
                if result is None:
                    continue
                w.task = None
                yield result  # the caller may submit follow-up items here
                self._fill()
        self.clean = True

    def _fill(self) -> None:
        """Hand waiting items to idle workers, starting workers up to the pool size."""
        while len(self.workers) < self.n_workers and self.pool._waiting:
            self.workers.append(self._start())
        for slot, w in enumerate(self.workers):
            if w.task is None and self.pool._waiting:
                self._assign(slot)

    def close(self, force: bool) -> None:
        # Normal end: ask workers to exit. Abandoned: kill them.
        for w in self.workers:
            w.stop(force=force or not self.clean)
        self.workers = []


class _DaskPool:
    """Items as futures on a ``dask.distributed`` cluster."""

    def __init__(self, pool: TaskPool, address: str) -> None:
        from radscore.errors import require_extra

        distributed = require_extra("dask.distributed", "distributed", "a dask scheduler (--scheduler)")
        Client, as_completed = distributed.Client, distributed.as_completed

        self.pool = pool
        self.client = Client(address, set_as_default=False)
        self.index: dict[str, int] = {}
        self.done = as_completed([], loop=self.client.loop)  # our client is not the default one
        for priority, i in sorted(pool._waiting):
            self.submit(i, -priority)
        pool._waiting.clear()

    def submit(self, index: int, priority: int) -> None:
        fut = self.client.submit(self.pool.fn, self.pool.items[index], pure=False, priority=priority,
                                 key=f"radscore-{uuid.uuid4().hex}")
        self.index[fut.key] = index
        self.done.add(fut)

    def results(self) -> Iterator[TaskResult]:
        while not self.done.is_empty():
            fut = next(self.done)
            i = self.index.pop(fut.key)
            try:
                yield TaskResult(i, value=fut.result())
            except Exception as exc:
                yield TaskResult(i, error=exc)
            fut.release()

    def close(self, force: bool) -> None:
        if force and self.index:
            self.client.cancel([k for k in self.index], force=True)
        self.client.close()
