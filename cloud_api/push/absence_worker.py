"""The background worker that tells families of a child not at school by the start (``not_arrived``).

Every API process may run it. Each round it reads which schools set their day, and for each school
whose classes' deadlines (start plus grace) came since its last sweep today it sweeps once
(:func:`~cloud_api.services.absence_notices.queue_not_arrived`) under the deployment-wide lock of the
worker, then wakes the push worker. The notices' key makes a second sweep (another process, a
restart, a retried round) queue nothing twice. It sleeps until the next deadline, a minute at most,
so a day changed in the office is seen within a minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from cloud_api.background.lock import exclusive
from cloud_api.services.absence_notices import due_deadlines, queue_not_arrived
from cloud_api.services.school_hours import SchoolHours, every_school_hours, is_school_day
from shared.localtime import local_date

__all__ = ["AbsenceWorker"]

log = logging.getLogger(__name__)


class AbsenceWorker:
    """Sweeps each school at its classes' deadlines; ``clock`` is injectable for tests and the bench."""

    name = "absences"

    def __init__(
        self,
        engine: Engine,
        *,
        wake: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_sleep_s: float = 60.0,
    ) -> None:
        self.engine = engine
        self._wake = wake
        self._clock = clock
        self._max_sleep_s = max_sleep_s
        self.interval_s = max_sleep_s
        # What each school was swept for: the day and the deadlines that had come then.
        self._swept: dict[str, tuple[date, frozenset[datetime]]] = {}

    async def round(self) -> bool:
        """Sweep the schools with a deadline come since their last sweep; then sleep until the next one."""
        now = self._clock()
        async with exclusive(self.engine, "absence notices") as mine:
            if not mine:
                self.interval_s = 1.0  # another process sweeps: look again soon, the deadline is near
                return False
            queued, upcoming = await asyncio.to_thread(self._sweep, now)
        if queued and self._wake is not None:
            self._wake("push")
        if queued:
            log.info("absences: %d not-arrived notices queued", queued)
        wait = (min(upcoming) - self._clock()).total_seconds() if upcoming else self._max_sleep_s
        self.interval_s = min(max(wait, 0.0), self._max_sleep_s)
        return False

    def _sweep(self, now: datetime) -> tuple[int, list[datetime]]:
        day = local_date(now)
        if not is_school_day(day):
            return 0, []
        with self.engine.connect() as conn:
            every = every_school_hours(conn)  # one read a round, whatever the number of schools
        queued, upcoming = 0, []
        for school_id, hours in every.items():
            names: list[str | None] = [None, *hours.classes]  # the default's deadline, and each class's own
            upcoming += _upcoming(hours, names, day, now)
            due = frozenset(due_deadlines(hours, names, now).values())
            if not due or self._swept.get(school_id) == (day, due):
                continue  # no deadline came since this school's last sweep: nothing to read
            with self.engine.begin() as conn:
                queued += queue_not_arrived(conn, school_id, hours, now)
            self._swept[school_id] = (day, due)  # after the commit: a failed sweep is done again
        return queued, upcoming

    async def aclose(self) -> None:
        """Nothing to close."""


def _upcoming(hours: SchoolHours, names: list[str | None], day: date, now: datetime) -> list[datetime]:
    deadlines = (hours.of(name).deadline(day, hours.grace_minutes) for name in names)
    return [d for d in deadlines if d > now]
