"""A background worker that runs jobs at the times cron expressions name, in the school's local time.

APScheduler's :class:`~apscheduler.triggers.cron.CronTrigger` says when; the supervisor runs the
rounds, so the jobs of one worker never run side by side (the 1st's 02:00 build of every school may
outlast the hourly run at 02:07: that one then runs once, after it, rather than beside it and racing
to store the same versions). A time missed while a job ran, or while the process was down, is run
once, late; several missed times of one job are run once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

__all__ = ["CronJob", "CronWorker"]

log = logging.getLogger(__name__)


@dataclass
class CronJob:
    """A job and its trigger; ``next_at`` is when it runs next (None until the worker first looks)."""

    name: str
    trigger: CronTrigger
    run: Callable[[datetime], Awaitable[object]]
    next_at: datetime | None = field(default=None)


class CronWorker:
    """Runs each job when its time comes; sleeps until the soonest (at most ``max_sleep_s``)."""

    def __init__(
        self,
        name: str,
        jobs: Sequence[CronJob],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_sleep_s: float = 60.0,
    ) -> None:
        self.name = name
        self.jobs = list(jobs)
        self._clock = clock
        self._max_sleep_s = max_sleep_s
        self.interval_s = 0.0

    async def round(self) -> bool:
        """Run every job whose time has come, once; then sleep until the next one's."""
        now = self._clock()
        for job in self.jobs:
            if job.next_at is None:
                job.next_at = job.trigger.get_next_fire_time(None, now)
            if job.next_at is not None and job.next_at <= now:
                log.info("running %s (due %s)", job.name, job.next_at.isoformat())
                try:
                    await job.run(now)
                finally:
                    # The first time after both the one just run and now: missed times run once.
                    after = max(self._clock(), job.next_at + timedelta(microseconds=1))
                    job.next_at = job.trigger.get_next_fire_time(None, after)
        upcoming = [job.next_at for job in self.jobs if job.next_at is not None]
        wait = (min(upcoming) - self._clock()).total_seconds() if upcoming else self._max_sleep_s
        self.interval_s = min(max(wait, 0.0), self._max_sleep_s)
        return False

    async def aclose(self) -> None:
        """Nothing to close: the jobs own their clients."""
