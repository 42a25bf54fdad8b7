"""Every background worker of one API process, run side by side on the app's event loop.

A :class:`Worker` does one *round* at a time (claim a batch, deliver it, settle it) and says whether
there may be more at once. The supervisor runs each worker's rounds until the app stops: at once
again while a round says so, else after the worker's ``interval_s`` or as soon as someone calls
:meth:`Supervisor.wake` (ingest does, for the push notices it has just committed). A round that
raises is logged and run again after a pause: a database blip never ends the loop.
Started and stopped by the app's lifespan; :meth:`Supervisor.stop` lets a round in hand finish its
database work, drops an HTTP request in flight (its row is released by its lease), and closes each
worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

__all__ = ["Supervisor", "Worker"]

log = logging.getLogger(__name__)


class Worker(Protocol):
    """What the supervisor runs. ``name`` is how it is woken and logged."""

    name: str
    interval_s: float

    async def round(self) -> bool:
        """Do one round of work; True when there may be more to do at once."""
        ...

    async def aclose(self) -> None:
        """Release what the worker holds (its HTTP client)."""
        ...


class Supervisor:
    """Runs workers until stopped; one per API process, made by the lifespan."""

    def __init__(self, *, failure_pause_s: float = 1.0) -> None:
        self._workers: dict[str, Worker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._failure_pause_s = failure_pause_s
        self.rounds: dict[str, int] = {}
        self.failures: dict[str, int] = {}

    @property
    def names(self) -> list[str]:
        """The workers running, by name."""
        return sorted(self._workers)

    def start(self, worker: Worker) -> None:
        """Run ``worker``'s rounds from now on (on the running loop)."""
        if worker.name in self._workers:
            raise ValueError(f"a worker named {worker.name!r} runs already")
        self._workers[worker.name] = worker
        self._wakeups[worker.name] = asyncio.Event()
        self.rounds[worker.name] = self.failures[worker.name] = 0
        self._tasks[worker.name] = asyncio.create_task(self._run(worker), name=f"background:{worker.name}")

    def wake(self, name: str) -> None:
        """New work for ``name`` was committed: its next round starts now, not at its interval."""
        event = self._wakeups.get(name)
        if event is not None:
            event.set()

    async def _run(self, worker: Worker) -> None:
        wakeup = self._wakeups[worker.name]
        while True:
            more = False
            try:
                more = await worker.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The work it had is still there: try again after a pause, not after the interval.
                self.failures[worker.name] += 1
                log.exception("background worker %s failed a round; it goes on", worker.name)
                await asyncio.sleep(self._failure_pause_s)
                more = True
            self.rounds[worker.name] += 1
            if more:
                await asyncio.sleep(0)  # let the API's requests in between two full rounds
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), worker.interval_s)
            wakeup.clear()

    async def stop(self) -> None:
        """Stop every worker and close it."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in self._workers.values():
            try:
                await worker.aclose()
            except Exception:
                log.exception("closing background worker %s failed", worker.name)
        self._tasks.clear()
        self._workers.clear()
