"""Telling people of an alert: who is responsible, what to say in their language, by e-mail and Web Push.

A school's alert goes to the school's administrators and IT contacts (``school_admin``,
``school_it``) and to its region's IT (``region_it``); a deployment-wide one (a queue, the
database) to the deployment's administrators. Each hears it in the language of their notification
settings (the default language when they chose none), by e-mail when the account has an address
(its ``email``, or its login when that is one) and by Web Push on each device the account
subscribed for staff notices (``staff_push_subscriptions``). Every notice links to the fleet page
of the school (``/office/schools/<school>/fleet``) and, for the region's IT, of the region
(``/office/regions/<region>/fleet``); a deployment-wide one to the deployment's alerts.
Opening and resolving are told; acknowledging is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select, tuple_

from cloud_api.alerts.rules import DEPLOYMENT
from cloud_api.alerts.store import Alert
from cloud_api.db.schema import accounts, notification_settings, role_grants, schools, staff_push_subscriptions
from cloud_api.push.sender import Subscription
from cloud_api.services.accounts import Grant, Role, grants_of
from shared.i18n import translator
from shared.localtime import LOCAL_TZ

__all__ = [
    "ALERTED_ROLES",
    "QUEUE_WORDS",
    "Notice",
    "Recipient",
    "address_of",
    "compose",
    "devices_of",
    "fleet_path",
    "recipients_of",
    "school_names",
]

# The roles whose holders are told of alerts (the account page offers them alerts on their devices).
ALERTED_ROLES = frozenset({Role.SCHOOL_ADMIN, Role.SCHOOL_IT, Role.REGION_IT, Role.DEPLOYMENT_ADMIN})

# What each rule's notice says (the catalogs' sentences); {gateway}, {reader}, {value} as the rule has them.
_TITLE = {
    "gateway_silent": "The gateway is silent",
    "reader_offline": "A reader is offline",
    "disk_low": "The disk of the gateway is nearly full",
    "backlog_old": "Events wait over an hour to reach the cloud",
    "clock_offset": "The clock of the gateway is wrong",
    "queue_stuck": "A delivery queue is not moving",
    "database_down": "The database does not answer",
}
_DETAIL = {
    "gateway_silent": "The gateway {gateway} has sent nothing since {time}.",
    "reader_offline": "The reader {reader} of the gateway {gateway} is offline.",
    "disk_low": "The gateway {gateway} has {value} % of its disk free.",
    "backlog_old": "The oldest event of the gateway {gateway} waits for {value} minutes.",
    "clock_offset": "The clock of the gateway {gateway} is {value} seconds off.",
    "queue_stuck": "The {subject} queue has not moved since {time}.",
    "database_down": "The database did not answer from {time}.",
}


# The catalog's name of each delivery queue.
QUEUE_WORDS = {"push": "queue_push", "wallet": "queue_wallet", "reports": "queue_reports"}


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone responsible for an alert: where to reach them, in which language, which page to open."""

    account_id: UUID
    email: str | None
    language: str | None
    region_id: str | None  # set for the region's IT: their link is the region's fleet page


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert's notice in one language: a title, a body, and the page it links to."""

    title: str
    body: str
    url: str
    tag: str

    def payload(self) -> dict[str, Any]:
        """The JSON a staff device's service worker receives."""
        return {"title": self.title, "body": self.body, "tag": self.tag, "url": self.url}


def fleet_path(school_id: str, region_id: str | None = None) -> str:
    """The fleet page a notice links to: the region's for its IT, the school's, or the deployment's alerts."""
    if region_id is not None:
        return f"/office/regions/{region_id}/fleet"
    if school_id == DEPLOYMENT:
        return "/office/deployment/alerts"
    return f"/office/schools/{school_id}/fleet"


def school_names(conn: Connection, school_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Each school's name and region."""
    ids = sorted({s for s in school_ids if s != DEPLOYMENT})
    if not ids:
        return {}
    columns = (schools.c.school_id, schools.c.name, schools.c.region_id)
    rows = conn.execute(select(*columns).where(schools.c.school_id.in_(ids)))
    return {r.school_id: (r.name, r.region_id) for r in rows}


def recipients_of(conn: Connection, school_id: str, region_id: str | None) -> list[Recipient]:
    """The active accounts responsible for the alerts of ``school_id`` (``"*"``: the deployment's)."""
    wanted: dict[Grant, str | None] = (
        {Grant(Role.DEPLOYMENT_ADMIN, None): None}
        if school_id == DEPLOYMENT
        else {Grant(Role.SCHOOL_ADMIN, school_id): None, Grant(Role.SCHOOL_IT, school_id): None}
    )
    if school_id != DEPLOYMENT and region_id is not None:
        wanted[Grant(Role.REGION_IT, region_id)] = region_id
    pairs = [(g.role.value, g.scope) for g in wanted]
    scoped = [p for p in pairs if p[1] is not None]
    clause = tuple_(role_grants.c.role, role_grants.c.scope).in_(scoped) if scoped else None
    if clause is None:
        clause = (role_grants.c.role == Role.DEPLOYMENT_ADMIN.value) & role_grants.c.scope.is_(None)
    candidates = list(conn.execute(select(role_grants.c.account_id).where(clause).distinct()).scalars())
    in_force = grants_of(conn, candidates)
    region_of: dict[UUID, str | None] = {}
    for account_id, grants in in_force.items():
        held = [g for g in grants if g in wanted]
        if held:
            # Someone both the school's and the region's IT opens the school's page.
            region_of[account_id] = None if any(wanted[g] is None for g in held) else wanted[held[0]]
    if not region_of:
        return []
    rows = conn.execute(
        select(accounts.c.id, accounts.c.login, accounts.c.email, notification_settings.c.language)
        .select_from(accounts.outerjoin(notification_settings, notification_settings.c.account_id == accounts.c.id))
        .where(accounts.c.id.in_(list(region_of)), accounts.c.active.is_(True))
    )
    found = [Recipient(r.id, _address(r.email, r.login), r.language, region_of[r.id]) for r in rows]
    return sorted(found, key=lambda rec: str(rec.account_id))


def _address(email: str | None, login: str) -> str | None:
    return email or (login if "@" in login else None)


def address_of(conn: Connection, account_id: UUID) -> str | None:
    """Where the account's alerts are mailed: its e-mail, or its login when that is an address."""
    row = conn.execute(select(accounts.c.email, accounts.c.login).where(accounts.c.id == account_id)).first()
    return None if row is None else _address(row.email, row.login)


def devices_of(conn: Connection, account_ids: Iterable[UUID]) -> dict[UUID, list[Subscription]]:
    """The staff devices of these accounts."""
    ids = list(account_ids)
    out: dict[UUID, list[Subscription]] = {}
    if not ids:
        return out
    rows = conn.execute(select(staff_push_subscriptions).where(staff_push_subscriptions.c.account_id.in_(ids)))
    for r in rows:
        out.setdefault(r.account_id, []).append(Subscription(r.endpoint, r.p256dh, r.auth))
    return out


def _figure(alert: Alert) -> str:
    value = alert.value or 0.0
    if alert.rule == "disk_low":
        return f"{value * 100:.0f}"
    if alert.rule == "backlog_old":
        return f"{value / 60:.0f}"
    return f"{value:+.1f}" if alert.rule == "clock_offset" else f"{value:.0f}"


def compose(alert: Alert, school: str | None, language: str | None, link: str) -> Notice:
    """The notice of ``alert`` (opened, or resolved when its state says so) for a reader of ``language``."""
    _ = translator(language)
    gateway, _slash, reader = alert.subject.partition("/")
    local = alert.since.astimezone(LOCAL_TZ)
    detail = _(
        _DETAIL[alert.rule],
        gateway=alert.gateway_id or gateway,
        reader=reader,
        value=_figure(alert),
        subject=_(QUEUE_WORDS.get(alert.subject, alert.subject)),
        time=f"{_.date(local)} {_.time(local)}",
    )
    what = _(_TITLE[alert.rule])
    resolved = alert.state == "resolved"
    where = school if school is not None else _("the deployment")
    title = (
        _("Resolved at {school}: {what}", school=where, what=what)
        if resolved
        else _("Alert at {school}: {what}", school=where, what=what)
    )
    lead = _("This alert has ended by itself.") if resolved else _("Please look at it and acknowledge it.")
    body = f"{detail}\n{lead}\n{_('Fleet page')}: {link}"
    return Notice(title, body, link, f"alert:{alert.id}")
