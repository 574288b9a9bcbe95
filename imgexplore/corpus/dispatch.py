"""Handing a scan's tasks to Dask no faster than its workers take them.

Dask places a task the moment it is submitted. A task whose group is small (a scan's few
big layers are) is not held in the scheduler's queue but given to a worker at once, and
that can be a worker busy with a layer that takes seconds, while another worker runs out of
work and waits (measured: half a second idle, then the queued task run last). So a scan
keeps at most one task per worker thread in flight and holds the rest here, highest
priority first: a worker that finishes is given the most urgent task then known, and a
big layer found late still goes before the small ones found earlier.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

SLOTS_REFRESH_SECONDS = 1.0  # how often the cluster is asked how many threads it has


class Dispatcher:
    """Tasks of one scan: :meth:`submit` queues one, :meth:`results` yields each finished
    task's tag and result while keeping every worker thread busy with the next one."""

    def __init__(self, client):
        from distributed import as_completed

        self.client = client
        self._waiting: list[tuple] = []  # heap: (-priority, order, fn, argument, key, (tag, finds), options)
        self._order = itertools.count()
        self._running = as_completed()  # yields the handed-out futures as they finish
        # each handed-out task by key: its future (to cancel it) and its (tag, finds)
        self._handed: dict[str, tuple[Any, tuple[Any, int | None]]] = {}
        self._slots, self._slots_at = 1, float("-inf")

    def submit(
        self,
        fn: Callable,
        argument: Any,
        *,
        key: str,
        priority: int,
        tag: Any,
        finds: int | None = None,
        **options: Any,
    ) -> None:
        """Queue ``fn(argument, **options)`` as the Dask task ``key``; ``tag`` comes back with
        its result. Higher ``priority`` goes first; equal ones in the order submitted.

        ``finds``: the highest priority of the tasks that handling its result may queue (None:
        it queues none). When the task is done, its thread is given the next task at once,
        before the result is even fetched (each of those steps is a round trip), unless a
        task its result may bring could go before the next one waiting."""
        item = (-priority, next(self._order), fn, argument, key, (tag, finds), options)
        heapq.heappush(self._waiting, item)

    @property
    def pending(self) -> int:
        """Tasks queued here or running."""
        return len(self._waiting) + len(self._handed)

    def results(self) -> Iterator[tuple[Any, Any]]:
        """(tag, result) of each task as it finishes, until none is queued or running. Tasks
        submitted meanwhile (while handling a result) are run too. A task's error is raised."""
        while self.pending:
            self.fill()
            future = next(self._running)
            _, (tag, finds) = self._handed.pop(future.key)
            if finds is None or (self._waiting and -self._waiting[0][0] >= finds):
                self.fill()
            result = future.result()
            future.release()
            yield tag, result

    def cancel(self) -> None:
        """Drop the queued tasks and cancel the running ones (a scan that stops early)."""
        self._waiting.clear()
        futures = [future for future, _ in self._handed.values()]
        if futures:
            self.client.cancel(futures)
        self._running.clear()
        self._handed.clear()

    def fill(self) -> None:
        """Hand queued tasks to the cluster while it has a free thread (done before each
        wait; call it to start new tasks before slow work between results)."""
        slots = self._slots_now()
        while self._waiting and len(self._handed) < slots:
            _, _, fn, argument, key, tagged, options = heapq.heappop(self._waiting)
            future = self.client.submit(fn, argument, key=key, pure=False, **options)
            self._handed[future.key] = (future, tagged)
            self._running.add(future)

    def _slots_now(self) -> int:
        """Worker threads in the cluster (asked again at most once a second: workers come and go)."""
        now = time.monotonic()
        if now - self._slots_at >= SLOTS_REFRESH_SECONDS:
            self._slots = max(1, sum(self.client.nthreads().values()))
            self._slots_at = now
        return self._slots
