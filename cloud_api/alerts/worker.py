"""The alerts' background worker: every API process runs one; one process at a time evaluates.

Each round first takes the deployment-wide lock ``alerts`` (:func:`cloud_api.background.lock.exclusive`;
another process holding it does the round), evaluates every rule in one transaction
(:func:`cloud_api.alerts.store.evaluate`), then tells what opened or resolved: by e-mail (SMTP, off
the event loop) and by Web Push to the staff's devices. A notice that reached nobody (the mail
server down, no device answering) is tried again next rounds, for ten minutes; one that reached
someone is done, and so is one with no way to anyone (no mail server, no device).

The database's own outage cannot be written while it lasts. The process that evaluated last notices
it (the round fails to reach the database), and once it has lasted the rule's window mails the
deployment's administrators it last read, and ``alert_emails``, directly. When the database answers
again the outage is written as an open alert already told, which the next rounds resolve (and tell)
like any other. Another process's rounds fail too but stay silent: one letter, not one a process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from cloud_api.alerts import notify
from cloud_api.alerts.rules import DEPLOYMENT, RULES
from cloud_api.alerts.store import Alert, deployment_figures, evaluate, record_outage, set_told, to_tell
from cloud_api.background.http import client
from cloud_api.background.lock import exclusive
from cloud_api.push.endpoints import endpoint_policy
from cloud_api.push.keys import ensure_vapid_key, load_vapid_key
from cloud_api.push.sender import Outcome, PushSender, Subscription
from cloud_api.push.subscriptions import forget_staff_endpoint
from cloud_api.services.mail import send_mail
from cloud_api.settings import CloudSettings

__all__ = ["AlertWorker", "alert_worker"]

log = logging.getLogger(__name__)
RECIPIENTS_FRESH = timedelta(minutes=10)  # how old the cached deployment administrators may be
MAX_TRIES = 30  # rounds a notice that reaches nobody is tried (10 minutes at the default interval)
_NO_ID = UUID(int=0)  # the outage's letter has no row yet


class AlertWorker:
    """Evaluates the alert rules every ``interval_s`` and tells people; run by the background supervisor."""

    name = "alerts"

    def __init__(
        self,
        engine: Engine,
        settings: CloudSettings,
        *,
        sender: PushSender | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.sender = sender
        self.interval_s = settings.alert_interval_s
        self._clock = clock
        self._evaluator = False  # this process did the last round that reached the database
        self._down_since: datetime | None = None
        self._down_last: datetime | None = None
        self._down_told_at: datetime | None = None
        self._tries: dict[tuple[UUID, str], int] = {}
        self._admins: list[notify.Recipient] = []
        self._admins_at: datetime | None = None

    async def round(self) -> bool:
        """One evaluation, then the notices."""
        now = self._clock()
        try:
            async with exclusive(self.engine, "alerts") as held:
                if not held:
                    self._evaluator = False
                    return False
                await asyncio.to_thread(self._evaluate, now)
        except DBAPIError as exc:
            await self._database_down(now, exc)
            return False
        self._evaluator = True
        await self._tell()
        return False

    def _evaluate(self, now: datetime) -> None:
        with self.engine.begin() as conn:
            if self._down_since is not None and self._down_last is not None:
                # Kept when it lasted the rule's window: told already, or to be told now.
                lasted = self._down_last - self._down_since >= RULES["database_down"].window
                if self._down_told_at is not None or lasted:
                    opened = self._down_told_at or self._down_since + RULES["database_down"].window
                    record_outage(conn, self._down_since, opened, told=self._down_told_at is not None)
            self._down_since = self._down_last = self._down_told_at = None
            changes = evaluate(conn, now, deployment_figures(conn))
            if self._admins_at is None or now - self._admins_at > RECIPIENTS_FRESH:
                self._admins = notify.recipients_of(conn, DEPLOYMENT, None)
                self._admins_at = now
        if changes.opened or changes.resolved:
            log.info(
                "alerts: %d opened, %d resolved over %d gateways",
                len(changes.opened),
                len(changes.resolved),
                changes.gateways,
            )

    async def _database_down(self, now: datetime, exc: Exception) -> None:
        if self._down_since is None:
            log.warning("alerts: the database does not answer: %s", exc)
            self._down_since = now
        self._down_last = now
        rule = RULES["database_down"]
        if not self._evaluator or self._down_told_at is not None or now - self._down_since < rule.window:
            return
        alert = Alert(
            DEPLOYMENT, _NO_ID, rule.name, "database", None, "open", self._down_since, now, None, None, None, None, None
        )
        addresses = [(r.email, r.language) for r in self._admins if r.email]
        addresses += [(a, None) for a in self.settings.alert_emails if a not in {e for e, _l in addresses}]
        if await self._mail_all(alert, None, [(e, lang, notify.fleet_path(DEPLOYMENT)) for e, lang in addresses]):
            self._down_told_at = now

    async def _tell(self) -> None:
        def read() -> list[tuple[Alert, str | None, list[notify.Recipient], dict[UUID, list[Subscription]]]]:
            with self.engine.connect() as conn:
                waiting = to_tell(conn)
                names = notify.school_names(conn, [a.school_id for a in waiting])
                out = []
                # Asked once a school a round: a fleet-wide outage opens an alert at every school.
                known: dict[str, tuple[list[notify.Recipient], dict[UUID, list[Subscription]]]] = {}
                for alert in waiting:
                    name, region = names.get(alert.school_id, (None, None))
                    if alert.school_id not in known:
                        people = notify.recipients_of(conn, alert.school_id, region)
                        known[alert.school_id] = (people, notify.devices_of(conn, [p.account_id for p in people]))
                    out.append((alert, name, *known[alert.school_id]))
                return out

        for alert, school, people, devices in await asyncio.to_thread(read):
            shown = replace(alert, state="resolved" if alert.tell == "resolved" else "open")
            mails = [(p.email, p.language, notify.fleet_path(alert.school_id, p.region_id)) for p in people if p.email]
            reached = await self._mail_all(shown, school, mails)
            for person in people:
                link = self._link(notify.fleet_path(alert.school_id, person.region_id))
                notice = notify.compose(shown, school, person.language, link)
                reached |= await self._push(notice, devices.get(person.account_id, []))
            mailing = bool(mails and self.settings.smtp_host and self.settings.smtp_sender)
            pushing = self.sender is not None and any(devices.values())
            key = (alert.id, alert.tell or "")
            self._tries[key] = tries = self._tries.get(key, 0) + 1
            # Done when someone heard it, when no way to anyone exists (nothing to retry), or after
            # MAX_TRIES rounds of a mail server and push services that never answered.
            if reached or not (mailing or pushing) or tries >= MAX_TRIES:
                if not reached:
                    log.warning("alerts: nobody could be told of %s %s", alert.rule, alert.subject)
                self._tries.pop(key, None)
                await asyncio.to_thread(self._told, alert)

    def _told(self, alert: Alert) -> None:
        with self.engine.begin() as conn:
            set_told(conn, alert)

    def _link(self, path: str) -> str:
        return f"{self.settings.public_url or ''}{path}"

    async def _mail_all(self, alert: Alert, school: str | None, to: list[tuple[str, str | None, str]]) -> bool:
        if not (self.settings.smtp_host and self.settings.smtp_sender):
            return False
        reached = False
        for address, language, path in to:
            notice = notify.compose(alert, school, language, self._link(path))
            try:
                await asyncio.to_thread(send_mail, self.settings, address, notice.title, notice.body)
                reached = True
            except Exception as exc:  # the mail server's trouble: the push may still reach them
                log.warning("alerts: mail to %s failed: %r", address, exc)
        return reached

    async def _push(self, notice: notify.Notice, devices: list[Subscription]) -> bool:
        if self.sender is None or not devices:
            return False
        data = json.dumps(notice.payload(), ensure_ascii=False).encode()
        reached = False
        for device in devices:
            message = await asyncio.to_thread(self.sender.encrypt, device, data)
            outcome, _status = await self.sender.send(message)
            reached |= outcome is Outcome.SENT
            if outcome in (Outcome.GONE, Outcome.REFUSED):
                # The browser unsubscribed, or the endpoint is not one the cloud posts to: forget it.
                await asyncio.to_thread(self._forget, device.endpoint)
        return reached

    def _forget(self, endpoint: str) -> None:
        with self.engine.begin() as conn:
            forget_staff_endpoint(conn, endpoint)

    async def aclose(self) -> None:
        """Close the push sender's HTTP client."""
        if self.sender is not None:
            await self.sender.aclose()


def alert_worker(engine: Engine, settings: CloudSettings) -> AlertWorker:
    """The alerts' worker of this process, with a push sender when the deployment has a VAPID key."""
    with engine.begin() as conn:
        if settings.environment == "development":
            ensure_vapid_key(conn)
        key = load_vapid_key(conn)
    sender = None
    if key is not None:
        sender = PushSender(
            key,
            settings.vapid_subject,
            client(timeout_s=10.0),
            endpoints=endpoint_policy(settings),
            ttl_s=settings.push_ttl_s,
        )
    return AlertWorker(engine, settings, sender=sender)
