"""The NEDB exchange as a background worker of the API process, when ``nedb_url`` is set.

One round, under the deployment-wide advisory lock ``nedb`` (one process of the deployment pulls):

1. every school whose pull is due (its ``next_pull_at`` has come: the interval after the last pull,
   a backoff after a failure, or at once when the office asked) is pulled page by page; each page
   is applied in one transaction with its packets, its refused records and the cursor it moves to
   (:mod:`cloud_api.nedb.roster`). A page that cannot be applied, an NEDB that does not answer, is
   slow past the timeout or answers unsigned: the packets are journalled, the cursor stays, and the
   school is tried again after a backoff (1, 2, 4… minutes, at most the pull interval);
2. the figures that have fallen due are built and queued (:mod:`cloud_api.nedb.figures`);
3. the queued figures are sent; a packet counts as delivered only once the NEDB's signed answer
   gives a verdict on each of its records; otherwise it is sent again later, unchanged.

Retries within a round follow the background workers' policy (:mod:`cloud_api.background.http`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from anyio import to_thread
from prometheus_client import Counter
from sqlalchemy import Engine, func
from sqlalchemy.exc import SQLAlchemyError

from cloud_api.background.http import RetryPolicy, client
from cloud_api.background.lock import exclusive
from cloud_api.background.queue import LeasedQueue
from cloud_api.core.security_events import Kind, Outcome, SecurityLog, record_security_event, using_security_log
from cloud_api.db.schema import nedb_figures
from cloud_api.nedb.client import Exchanged, NedbClient, NedbFailure, NedbUnverified, Packet
from cloud_api.nedb.contract import FiguresAnswer, FiguresPacket, RosterDelta, load_public_key
from cloud_api.nedb.figures import enqueue_due
from cloud_api.nedb.roster import apply_delta
from cloud_api.nedb.store import (
    Refusal,
    SchoolLink,
    claim_due_schools,
    journal,
    linked_schools,
    pull_failed,
    pulled,
    store_refusals,
)
from cloud_api.settings import CloudSettings

__all__ = ["NEDB_POLICY", "NedbWorker", "RoundReport", "nedb_worker"]

log = logging.getLogger(__name__)

# Three tries a round, seconds apart: a longer outage is the backoff's, between rounds.
NEDB_POLICY = RetryPolicy(initial_s=2.0, max_s=30.0, attempts=3)
ANSWERED = "answered"
FIGURES = LeasedQueue(nedb_figures, key=("school_id", "id"), state="state", lease="due_at", order="created_at")
NEDB_PULLS = Counter("mektep_nedb_pulls", "NEDB roster pulls by outcome: applied, failed", ["outcome"])
NEDB_RECORDS = Counter(
    "mektep_nedb_records",
    "NEDB records by direction and outcome: in applied/refused (roster), out acknowledged/refused (figures)",
    ["direction", "outcome"],
)


@dataclass
class RoundReport:
    """What one round did (for tests and the log)."""

    pulled: list[str] = field(default_factory=list)  # schools whose pull applied
    failed: dict[str, str] = field(default_factory=dict)  # school → why its pull failed
    applied: int = 0
    refused: int = 0
    queued: int = 0  # figures packets built
    sent: int = 0  # figures packets answered
    figures_refused: int = 0
    send_failed: int = 0
    skipped: bool = False  # another process holds the lock


class NedbWorker:
    """Pulls the opted-in schools' rosters and sends their figures; see the module's docstring."""

    name = "nedb"

    def __init__(
        self,
        engine: Engine,
        nedb: NedbClient,
        *,
        pull_every: timedelta,
        interval_s: float = 30.0,
        retry_s: float = 60.0,
        policy: RetryPolicy | None = None,
        cutoff_day: int = 3,
        daily: bool = True,
        max_pages: int = 50,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        security_log: SecurityLog | None = None,
    ) -> None:
        self._engine = engine
        self.nedb = nedb
        self.interval_s = interval_s
        self._pull_every = pull_every
        self._retry_s = retry_s
        self._policy = policy or NEDB_POLICY
        self._cutoff_day = cutoff_day
        self._daily = daily
        self._max_pages = max_pages
        self._clock = clock
        self._security_log = security_log
        self.last_report: RoundReport | None = None

    def _backoff(self, failures: int) -> timedelta:
        seconds = min(self._retry_s * 2 ** max(0, failures - 1), self._pull_every.total_seconds())
        return timedelta(seconds=seconds)

    def _lease(self) -> timedelta:
        # One page's worst case (every try timing out, every wait): each page applied renews it.
        timeout = self.nedb.http.timeout.read or 30.0
        return timedelta(seconds=self._policy.lease_s(timeout))

    async def round(self) -> bool:
        """Pull what is due, queue and send the figures due; never more at once (the interval paces it)."""
        report = RoundReport()
        # No request is being answered: the security events of the round go to the app's log from here.
        with using_security_log(self._security_log):
            async with exclusive(self._engine, "nedb") as held:
                if not held:
                    report.skipped = True
                else:
                    now = self._clock()
                    links = await to_thread.run_sync(self._claim, now)
                    for link in links:
                        await self._pull(link, report)
                    report.queued = await to_thread.run_sync(self._enqueue, self._clock())
                    await self._send_figures(report)
        self.last_report = report
        return False

    async def aclose(self) -> None:
        """Close the HTTP client: a request in flight is dropped; its school's lease runs out and it is pulled again."""
        await self.nedb.http.aclose()

    # -- pulling ----------------------------------------------------------------------------------

    def _claim(self, now: datetime) -> list[SchoolLink]:
        with self._engine.begin() as conn:
            return claim_due_schools(conn, now=now, lease=self._lease())

    async def _call(self, school_id: str, attempt: Callable[[], Any], packets: list[Packet]) -> Any:
        async def once() -> Any:
            try:
                return await attempt()
            except NedbFailure as failure:
                packets.extend(failure.packets)  # every try's packets are journalled, not just the last
                if isinstance(failure, NedbUnverified):
                    # Someone answers in the NEDB's name, or its key changed: the security team's business.
                    target = failure.packets[-1].target if failure.packets else ""
                    record_security_event(
                        Kind.PACKET_REFUSED,
                        Outcome.REFUSED,
                        actor="nedb",
                        school=school_id,
                        target=target,
                        details={"reason": "unverified_answer"},
                    )
                raise

        return await self._policy.call(once)

    async def _pull(self, link: SchoolLink, report: RoundReport) -> None:
        cursor, classes = link.cursor, link.classes
        applied = refused = 0
        for page_number in range(1, self._max_pages + 1):
            packets: list[Packet] = []
            try:
                got: Exchanged[RosterDelta] = await self._call(
                    link.school_id, lambda cursor=cursor: self.nedb.pull(link.organisation, cursor), packets
                )
            except NedbFailure as failure:
                await to_thread.run_sync(self._failed, link, packets, failure.error)
                report.failed[link.school_id] = failure.error
                return
            packets += [got.request, got.answer]
            delta = got.value
            if delta.organisation != link.organisation:
                error = f"a delta of another organisation: {delta.organisation}"
                await to_thread.run_sync(self._failed, link, packets, error)
                report.failed[link.school_id] = error
                return
            try:
                last = page_number == self._max_pages
                page = await to_thread.run_sync(
                    self._apply, link, delta, classes, got.answer, packets, applied, refused, last
                )
            except SQLAlchemyError as exc:
                # Nothing of the page is stored (its transaction rolled back): the cursor stays.
                log.exception("NEDB delta for %s not applied", link.school_id)
                await to_thread.run_sync(self._failed, link, packets, f"not applied: {type(exc).__name__}")
                report.failed[link.school_id] = f"not applied: {type(exc).__name__}"
                return
            page_applied, page_refused, classes = page
            applied += page_applied
            refused += page_refused
            cursor = delta.version
            NEDB_RECORDS.labels("in", "applied").inc(page_applied)
            NEDB_RECORDS.labels("in", "refused").inc(page_refused)
            if not delta.more:
                break
        report.pulled.append(link.school_id)
        report.applied += applied
        report.refused += refused
        NEDB_PULLS.labels("applied").inc()

    def _apply(
        self,
        link: SchoolLink,
        delta: RosterDelta,
        classes: list[str] | None,
        answer: Packet,
        packets: list[Packet],
        applied_before: int,
        refused_before: int,
        last_page: bool,
    ) -> tuple[int, int, list[str] | None]:
        now = self._clock()
        with self._engine.begin() as conn:
            journal(conn, link.school_id, packets)
            done, new_classes = apply_delta(conn, link.school_id, delta, classes=classes, at=now)
            store_refusals(conn, link.school_id, answer.id, done.refused, now=now)
            # While there is more, the next page is this round's (leased on); past the round's last
            # page, the next round's; else the interval after this pull.
            next_at = now + self._pull_every
            if delta.more:
                next_at = now if last_page else now + self._lease()
            pulled(
                conn,
                link.school_id,
                cursor=delta.version,
                classes=new_classes,
                applied=applied_before + done.applied,
                refused=refused_before + len(done.refused),
                now=now,
                next_at=next_at,
            )
        return done.applied, len(done.refused), new_classes

    def _failed(self, link: SchoolLink, packets: list[Packet], error: str) -> None:
        now = self._clock()
        log.warning("NEDB pull for %s failed (%d in a row): %s", link.school_id, link.failures + 1, error)
        NEDB_PULLS.labels("failed").inc()
        with self._engine.begin() as conn:
            journal(conn, link.school_id, packets)
            pull_failed(conn, link.school_id, error, now=now, retry_at=now + self._backoff(link.failures + 1))

    # -- figures ----------------------------------------------------------------------------------

    def _enqueue(self, now: datetime) -> int:
        made = 0
        with self._engine.begin() as conn:
            for link in linked_schools(conn):
                made += enqueue_due(
                    conn,
                    link.school_id,
                    link.organisation,
                    now=now,
                    enabled_at=link.enabled_at,
                    cutoff_day=self._cutoff_day,
                    daily=self._daily,
                )
        return made

    async def _send_figures(self, report: RoundReport) -> None:
        now = self._clock()

        def claim() -> list[Any]:
            with self._engine.begin() as conn:
                return FIGURES.claim(
                    conn, now=now, limit=20, lease=self._lease(), values={"tries": nedb_figures.c.tries + 1}
                )

        for row in await to_thread.run_sync(claim):
            packet = FiguresPacket.model_validate(row.payload)
            packets: list[Packet] = []
            try:
                got: Exchanged[FiguresAnswer] = await self._call(row.school_id, lambda p=packet: self._send(p), packets)
            except NedbFailure as failure:
                await to_thread.run_sync(self._send_failed, row, packets, failure.error)
                report.send_failed += 1
                continue
            packets += [got.request, got.answer]
            refused = await to_thread.run_sync(self._answered, row, packet, got, packets)
            report.sent += 1
            report.figures_refused += refused

    async def _send(self, packet: FiguresPacket) -> Exchanged[FiguresAnswer]:
        got = await self.nedb.send(packet)
        missing = {r.record_id for r in packet.records} - {v.record_id for v in got.value.verdicts}
        if missing:
            # Not confirmed until every record has its verdict: the packet goes again, unchanged.
            raise NedbFailure(f"no verdict for {len(missing)} record(s)", [got.request, got.answer])
        return got

    def _answered(self, row: Any, packet: FiguresPacket, got: Exchanged[FiguresAnswer], packets: list[Packet]) -> int:
        now = self._clock()
        records = {r.record_id: r for r in packet.records}
        refusals = [
            Refusal(
                "out",
                v.record_id,
                records[v.record_id].measure,
                v.reason or "other",
                v.message,
                {"period": packet.period, "values": records[v.record_id].values},
            )
            for v in got.value.verdicts
            if v.status == "refused" and v.record_id in records
        ]
        with self._engine.begin() as conn:
            journal(conn, row.school_id, packets)
            settled = FIGURES.settle(
                conn,
                [(row.school_id, row.id)],
                ANSWERED,
                answered_at=now,
                refused=len(refusals),
                failing_since=None,
                last_error=None,
            )
            if settled:
                store_refusals(conn, row.school_id, got.answer.id, refusals, now=now)
        NEDB_RECORDS.labels("out", "acknowledged").inc(len(packet.records) - len(refusals))
        NEDB_RECORDS.labels("out", "refused").inc(len(refusals))
        return len(refusals)

    def _send_failed(self, row: Any, packets: list[Packet], error: str) -> None:
        now = self._clock()
        log.warning("NEDB figures %s of %s not delivered: %s", row.period, row.school_id, error)
        with self._engine.begin() as conn:
            journal(conn, row.school_id, packets)
            FIGURES.release(
                conn,
                [(row.school_id, row.id)],
                retry_at=now + self._backoff(int(row.tries)),
                last_error=error[:300],
                failing_since=func.coalesce(nedb_figures.c.failing_since, now),
            )


def nedb_worker(
    settings: CloudSettings,
    engine: Engine,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    security_log: SecurityLog | None = None,
) -> NedbWorker | None:
    """The worker ``settings`` ask for, or None when no NEDB URL is configured."""
    if not settings.nedb_url or settings.nedb_public_key is None:
        return None
    http = client(base_url=settings.nedb_url.rstrip("/"), timeout_s=settings.nedb_timeout_s, transport=transport)
    nedb = NedbClient(
        http,
        client_id=settings.nedb_client_id,
        key=settings.nedb_key.get_secret_value().encode(),
        public_key=load_public_key(settings.nedb_public_key),
    )
    return NedbWorker(
        engine,
        nedb,
        pull_every=timedelta(minutes=settings.nedb_pull_minutes),
        cutoff_day=settings.report_cutoff_day,
        daily=settings.nedb_daily_figures,
        security_log=security_log,
    )
