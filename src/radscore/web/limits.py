"""Bounds on what one request and the whole page may use: bytes read, temporary disk, slots.

A request's body is read as a stream and every byte that reaches the disk (uploaded files,
files extracted from a zip, the images prepared for scoring) is first reserved in one
:class:`DiskBudget` shared by all requests, so the temporary folder never holds more than
the budget, whatever the clients declare (or do not declare: chunked requests have no
Content-Length). A request is admitted by :class:`Admission` before any byte of its body
is read and keeps its slot until its Radscore is computed: uploads and scoring share one
limit, so parallel requests cannot multiply the disk or memory in use beyond it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LimitExceeded(Exception):
    """A request passed a size limit; the page answers ``status`` (413) with ``message``."""

    def __init__(self, message: str, status: int = 413):
        super().__init__(message)
        self.message = message
        self.status = status


class DiskBudget:
    """Bytes of temporary disk in use by all requests, refused beyond ``limit`` bytes.

    Thread-safe: uploads are written on the event loop and zips are extracted in worker
    threads, both reserving here before they write.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.peak = 0  # for the record (/api/health)
        self._lock = threading.Lock()

    def lease(self) -> Lease:
        """A per-request account whose reservations are all returned by :meth:`Lease.close`."""
        return Lease(self)

    def _take(self, n: int) -> None:
        with self._lock:
            if self.used + n > self.limit:
                raise LimitExceeded(f"the server's temporary storage for uploads is full "
                                    f"({self.limit >> 20} MB in use by uploads being scored); try again shortly.")
            self.used += n
            self.peak = max(self.peak, self.used)

    def _give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class Lease:
    """One request's share of a :class:`DiskBudget`."""

    def __init__(self, budget: DiskBudget):
        self._budget = budget
        self.held = 0

    def reserve(self, n: int) -> None:
        """Reserve ``n`` bytes before writing them; raises :class:`LimitExceeded` when the budget is spent."""
        self._budget._take(n)
        self.held += n

    def close(self) -> None:
        """Return every byte reserved (call after the request's files are deleted)."""
        self._budget._give(self.held)
        self.held = 0


class Admission:
    """At most ``slots`` requests uploading or scoring at once, at most ``waiting`` queued.

    A request beyond both is refused at once (503) instead of being queued without bound:
    a queued request has not read its body yet, so it holds no disk, but each one is an
    open connection and a client waiting minutes for a slot is better told to retry.
    """

    def __init__(self, slots: int, waiting: int):
        if slots < 1 or waiting < 0:
            raise ValueError(f"slots must be >= 1 and waiting >= 0, got {slots} and {waiting}")
        self.slots = slots
        self.waiting = waiting
        self._queued = 0
        self._sem: asyncio.Semaphore | None = None  # created on the server's event loop

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; raises :class:`LimitExceeded` (503) when the queue is full."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        if self._sem.locked() and self._queued >= self.waiting:
            raise LimitExceeded(f"the server is busy ({self.slots} predictions running, {self._queued} "
                                f"waiting); try again in a minute.", status=503)
        self._queued += 1
        try:
            await self._sem.acquire()
        finally:
            self._queued -= 1
        try:
            yield
        finally:
            self._sem.release()
