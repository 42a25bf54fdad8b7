"""The report jobs: issue the previous month's reports, deliver them, warn before the deadline.

:func:`reports_day` is everything the schedule does at a given moment, so that a test can play a
month's first days with an injected clock. :func:`report_jobs` is the background worker that runs
it (:class:`~cloud_api.background.cron.CronWorker`, Asia/Almaty): on the 1st at 02:00, and every
hour after, because a receiver that was down, a late event (a corrected version) or the warning day
may come at any hour; and, every night, the coming months' partitions.

- From the 1st at 02:00 each school's reports of the previous month are issued, unless one of its
  gateways has not been heard from since the month ended and the cut-off day has not come (then
  it waits; after the cut-off it issues and names the gateways missing). A report is drafted again
  only when its inputs moved (:mod:`cloud_api.reports.marks`), and issued again only when its
  content changed: that is how a late event becomes a corrected version.
- Then each region's sums, once none of its schools waits, and the country's, once none at all does.
- Every unacknowledged version is sent to each of its receivers.
- From the warning day (:func:`~cloud_api.reports.deadline.warning_day`) a report not acknowledged
  by every receiver raises a warning, once, for the school admin and the region.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import httpx
from apscheduler.triggers.cron import CronTrigger
from prometheus_client import Counter
from sqlalchemy import Engine, select, union

from cloud_api.background.cron import CronJob, CronWorker
from cloud_api.background.http import RetryPolicy
from cloud_api.background.http import client as http_client
from cloud_api.background.lock import exclusive
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.partitions import ensure_months
from cloud_api.db.schema import gateways, people, report_warnings, reports, schools
from cloud_api.reports.deadline import DeadlinePolicy, report_deadline, warning_day
from cloud_api.reports.deliver import DELIVERY_POLICY, Receivers, deliver_round, unacknowledged
from cloud_api.reports.issue import COUNTRY, KINDS, issue_reports, missing_gateways, needs_draft
from cloud_api.settings import CloudSettings
from shared.localtime import LOCAL_TZ

__all__ = ["DayResult", "ReportJobs", "previous_month", "report_jobs", "reports_day"]

log = logging.getLogger(__name__)
WARNINGS = Counter("mektep_report_warnings", "Reports still unacknowledged on their warning day")


@dataclass
class DayResult:
    """What one run did."""

    issued: list[str] = field(default_factory=list)  # "subject/month/kind vN"
    waiting: list[str] = field(default_factory=list)  # schools (and regions) waiting for silent gateways
    drafted: int = 0  # reports built this run (the others' inputs had not moved since their last draft)
    delivered: int = 0
    warned: list[str] = field(default_factory=list)


def previous_month(day: date) -> str:
    """``YYYY-MM`` of the month before ``day``'s."""
    return (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def _schools(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = union(select(gateways.c.school_id), select(people.c.school_id).distinct(), select(schools.c.school_id))
        return sorted(conn.execute(query).scalars())


def _regions(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        members: dict[str, list[str]] = {}
        for school, region in conn.execute(select(schools.c.school_id, schools.c.region_id)):
            members.setdefault(region, []).append(school)
        return members


def _expected(engine: Engine) -> list[tuple[str, str]]:
    """Every (subject, kind) a month should have: each school's two, each region's, the country's."""
    found = _schools(engine)
    return [
        *((school, kind) for school in found for kind in KINDS),
        *((region, "region") for region in sorted(_regions(engine))),
        *([(COUNTRY, "country")] if found else []),
    ]


async def reports_day(
    engine: Engine,
    receivers: Receivers,
    client: httpx.AsyncClient,
    now: datetime,
    *,
    policy: DeadlinePolicy = DeadlinePolicy.NEXT_WORKING_DAY,
    cutoff_day: int = 3,
    language: str = "ru",
    retry: RetryPolicy = DELIVERY_POLICY,
) -> DayResult:
    """Issue, deliver and warn as the schedule does at ``now``."""
    result = await asyncio.to_thread(_issue, engine, now, cutoff_day, language)
    local = now.astimezone(LOCAL_TZ)
    month = previous_month(local.date())
    if receivers:
        delivered = await deliver_round(engine, receivers, client, now=lambda: now, policy=retry)
        result.delivered = delivered.delivered
    result.warned = await asyncio.to_thread(_warn, engine, receivers, month, local.date(), policy, now)
    return result


def _issue(engine: Engine, now: datetime, cutoff_day: int, language: str) -> DayResult:
    """Issue what is due at ``now`` (the previous month's reports, from the 1st at 02:00)."""
    result = DayResult()
    local = now.astimezone(LOCAL_TZ)
    month = previous_month(local.date())

    if not (local.day == 1 and local.hour < 2):  # the month's reports are built from the 1st, 02:00
        found = _schools(engine)
        wanted = []
        for school in found:
            with engine.connect() as conn:
                silent = missing_gateways(conn, month, [school], now)
            if silent and local.day < cutoff_day:
                result.waiting.append(school)
            else:
                wanted += [(school, kind) for kind in KINDS]
        # Sums wait for their schools: a region issued before a school's late batch would be short.
        wanted += [
            (region, "region")
            for region, members in sorted(_regions(engine).items())
            if not set(members) & set(result.waiting)
        ]
        if not result.waiting and found:
            wanted.append((COUNTRY, "country"))
        with engine.connect() as conn:  # every hour all month: only what moved since its last draft
            wanted = [(subject, kind) for subject, kind in wanted if needs_draft(conn, subject, month, kind)]
        result.drafted = len(wanted)
        for issued in issue_reports(engine, month, wanted, language=language, now=now):
            if issued.new:
                result.issued.append(f"{issued.subject}/{month}/{issued.kind} v{issued.version}")
    return result


def _warn(
    engine: Engine, receivers: Receivers, month: str, today: date, policy: DeadlinePolicy, now: datetime
) -> list[str]:
    deadline = report_deadline(date.fromisoformat(f"{month}-01"), policy)
    if today < warning_day(deadline):
        return []
    raised = []
    with engine.begin() as conn:
        waiting: dict[tuple[str, str], set[str]] = {}
        for item in unacknowledged(conn, receivers):
            row = item["row"]
            if row.month == month:
                waiting.setdefault((row.subject, row.kind), set()).add(item["receiver"])
        kept = conn.execute(select(reports.c.subject, reports.c.kind).where(reports.c.month == month))
        issued = {(subject, kind) for subject, kind in kept}
        for subject, kind in _expected(engine):
            if (subject, kind) not in issued:
                waiting[(subject, kind)] = {"(not issued)"}
        for (subject, kind), who in sorted(waiting.items()):
            stmt = dialect_insert(conn, report_warnings).values(
                subject=subject, month=month, kind=kind, deadline=deadline, raised_at=now, receivers=sorted(who)
            )
            if conn.execute(stmt.on_conflict_do_nothing().returning(report_warnings.c.subject)).first():
                WARNINGS.inc()
                raised.append(f"{subject}/{month}/{kind}")
                log.warning(
                    "report %s/%s/%s not acknowledged by %s; due %s", subject, month, kind, sorted(who), deadline
                )
    return raised


class ReportJobs(CronWorker):
    """The report jobs of one API process: a :class:`CronWorker` that owns its HTTP client."""

    def __init__(self, engine: Engine, settings: CloudSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.receivers = Receivers(settings.report_receivers, settings.report_region_receivers)
        self.client = http_client(timeout_s=30.0)
        every_hour = CronTrigger(minute=7, timezone=LOCAL_TZ)
        super().__init__(
            "reports",
            [
                CronJob("month partitions", CronTrigger(hour=1, minute=17, timezone=LOCAL_TZ), self._partitions),
                CronJob("reports, the 1st", CronTrigger(day=1, hour=2, minute=0, timezone=LOCAL_TZ), self._reports),
                CronJob("reports, hourly", every_hour, self._reports),
            ],
        )

    async def _reports(self, now: datetime) -> None:
        async with exclusive(self.engine, "report jobs") as mine:
            if not mine:
                log.info("reports: another process is running them")
                return
            await self._reports_run(now)

    async def _reports_run(self, now: datetime) -> None:
        settings = self.settings
        result = await reports_day(
            self.engine,
            self.receivers,
            self.client,
            now,
            policy=DeadlinePolicy(settings.report_deadline_policy),
            cutoff_day=settings.report_cutoff_day,
            language=settings.report_language,
        )
        log.info("reports: %s", result)

    async def _partitions(self, now: datetime) -> None:
        def make() -> None:
            with self.engine.begin() as conn:
                ensure_months(conn, now.astimezone(LOCAL_TZ).date())

        await asyncio.to_thread(make)

    async def aclose(self) -> None:
        """Close the receivers' HTTP client."""
        await self.client.aclose()


def report_jobs(engine: Engine, settings: CloudSettings) -> ReportJobs | None:
    """The report jobs, if this process runs them (``report_scheduler``).

    Any number of a deployment's processes may: a run takes the deployment-wide lock of the report
    jobs first, so one process at a time does the work and the others leave that run to it.
    """
    return ReportJobs(engine, settings) if settings.report_scheduler else None
