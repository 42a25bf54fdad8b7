"""What an education authority and the ministry read of the monthly reports: states, sums, files.

A region's account (``Role.REGION`` of the region) receives its schools' reports by law, people and
dishes named: it may list a school's issued versions and download their files. The ministry
(``Role.MINISTRY``) reads every region's and the country's sums, and each school's report state
(issued, delivered, acknowledged, late, waiting for a silent gateway), but never a school's files:
those name children. A ministry account that is also granted a region (``Role.REGION`` of it) reads
that region's schools' files as the region does: that is what "unless granted more" is. The checks
are here, in the service, so that every door (the office, an export, a later API) asks the same.

Sums come from the newest issued version of the region's (or the country's) report for its month,
as delivered; a month with none yet is summed live from the rollups and said to be so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, exists, func, select

from cloud_api.core.errors import DomainError
from cloud_api.db.distribution import is_citus
from cloud_api.db.schema import gateways, packets, report_deliveries, report_warnings, reports, schools
from cloud_api.reports.build import CATEGORIES
from cloud_api.reports.deadline import DeadlinePolicy, report_deadline, warning_day
from cloud_api.reports.issue import COUNTRY, KINDS, missing_gateways
from cloud_api.reports.listing import report_listing
from cloud_api.reports.region import region_report
from cloud_api.reports.store import VersionKey, read_file
from cloud_api.services.accounts import Principal, Role
from shared.localtime import month_end

__all__ = [
    "STATES",
    "MonthSums",
    "RegionMonth",
    "SchoolState",
    "check_month",
    "country_regions",
    "may_see_country",
    "may_see_region",
    "month_sums",
    "previous_months",
    "region_month",
    "region_of",
    "regions_of",
    "school_file",
    "school_reports",
]

# A report's state, best first: a receipt from every receiver; some; none yet; not issued while a
# gateway of the school has not been heard from since the month ended; not issued. "late" is apart:
# any state but acknowledged once the deadline has passed.
STATES = ("acknowledged", "delivered", "issued", "waiting", "not_issued")


def check_month(text: str, today: date) -> str:
    """``YYYY-MM`` as asked in an address: a month that has begun; ``bad_month`` or ``month_in_future`` else."""
    text = text.strip()
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit() or not 1 <= int(text[5:]) <= 12:
        raise DomainError("bad_month")
    if int(text[:4]) < 2000:
        raise DomainError("bad_month")
    if text > today.strftime("%Y-%m"):
        raise DomainError("month_in_future")
    return text


def previous_months(month: str, count: int) -> list[str]:
    """``count`` months ending with ``month``, oldest first."""
    year, number = int(month[:4]), int(month[5:])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{number:02d}")
        year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return out[::-1]


def may_see_region(principal: Principal, region_id: str) -> None:
    """The region's own staff and the ministry read a region's states and sums; nobody else."""
    if not (principal.has(Role.REGION, region_id) or principal.has(Role.MINISTRY, None)):
        raise DomainError("not_allowed")


def may_see_country(principal: Principal) -> None:
    """Only the ministry reads the country by region."""
    if not principal.has(Role.MINISTRY, None):
        raise DomainError("not_allowed")


def _may_read_school(conn: Connection, principal: Principal, region_id: str, school_id: str) -> None:
    """A school's reports name children and dishes: the region's authority reads them; the ministry only
    when it is granted the region too. The school must be the region's (another's is unknown here)."""
    may_see_region(principal, region_id)
    if region_of(conn, school_id) != region_id:
        raise DomainError("unknown_school")
    if not principal.has(Role.REGION, region_id):
        raise DomainError("names_not_granted")


def region_of(conn: Connection, school_id: str) -> str | None:
    """The region of a school, or None for a school the deployment does not know."""
    return conn.execute(select(schools.c.region_id).where(schools.c.school_id == school_id)).scalar_one_or_none()


def regions_of(conn: Connection) -> dict[str, int]:
    """Every region with its number of schools."""
    query = select(schools.c.region_id, func.count()).group_by(schools.c.region_id).order_by(schools.c.region_id)
    return {region: int(n) for region, n in conn.execute(query)}


def school_reports(conn: Connection, principal: Principal, region_id: str, school_id: str) -> list[dict[str, Any]]:
    """Every issued version of the school's reports with its deliveries and files (the region's right)."""
    _may_read_school(conn, principal, region_id, school_id)
    return report_listing(conn, school_id, KINDS)


def school_file(
    conn: Connection, principal: Principal, region_id: str, school_id: str, key: VersionKey, name: str
) -> bytes:
    """One file of an issued version of the school's report, byte for byte (the region's right)."""
    _may_read_school(conn, principal, region_id, school_id)
    if key.subject != school_id or key.kind not in KINDS:
        raise DomainError("not_found")
    data = read_file(conn, key, name)
    if data is None:
        raise DomainError("not_found")
    return data


@dataclass
class SchoolState:
    """One school's month: each report's state, whether it is late, the warnings raised, silent gateways."""

    school_id: str
    name: str
    states: dict[str, str] = field(default_factory=dict)  # kind → one of STATES
    late: dict[str, bool] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    warned: list[str] = field(default_factory=list)  # kinds warned of
    silent: list[str] = field(default_factory=list)  # gateways not heard from since the month ended

    @property
    def worst(self) -> str:
        """The state of its report furthest from acknowledged (what a list sorts and filters by)."""
        return max(self.states.values(), key=STATES.index, default="not_issued")

    @property
    def is_late(self) -> bool:
        """Whether one of its reports is past its deadline without a receipt from every receiver."""
        return any(self.late.values())


@dataclass(frozen=True)
class RegionMonth:
    """A region's month as its authority follows it: the deadline, the warning day, each school."""

    region_id: str
    month: str
    deadline: date
    warn_from: date
    schools: list[SchoolState]

    def counted(self) -> dict[str, int]:
        """How many schools are in each state (by their worst report), and how many are late."""
        counts = dict.fromkeys((*STATES, "late", "warned"), 0)
        for s in self.schools:
            counts[s.worst] += 1
            counts["late"] += s.is_late
            counts["warned"] += bool(s.warned)
        return counts


def region_month(
    conn: Connection, region_id: str | None, month: str, today: date, policy: DeadlinePolicy
) -> RegionMonth:
    """Each school of ``region_id`` (None: every region) with its reports' states for ``month``, in a few
    queries whatever the number of schools."""
    deadline = report_deadline(date.fromisoformat(f"{month}-01"), policy)
    members = select(schools.c.school_id)
    named = select(schools.c.school_id, schools.c.name).order_by(schools.c.school_id)
    if region_id is not None:
        members = members.where(schools.c.region_id == region_id)
        named = named.where(schools.c.region_id == region_id)
    found = {sid: SchoolState(sid, name) for sid, name in conn.execute(named)}
    r = reports.c
    newest = conn.execute(
        select(r.subject, r.kind, func.max(r.version))
        .where(r.month == month, r.kind.in_(KINDS), r.subject.in_(members))
        .group_by(r.subject, r.kind)
    ).all()
    versions = {(subject, kind): int(v) for subject, kind, v in newest}
    d = report_deliveries.c
    receipts: dict[tuple[str, str, int], list[bool]] = defaultdict(list)
    for subject, kind, version, state in conn.execute(
        select(d.subject, d.kind, d.version, d.state).where(d.month == month, d.kind.in_(KINDS), d.subject.in_(members))
    ):
        receipts[(subject, kind, version)].append(state == "delivered")
    w = report_warnings.c
    for subject, kind in conn.execute(
        select(w.subject, w.kind).where(w.month == month, w.kind.in_(KINDS), w.subject.in_(members))
    ):
        if subject in found:
            found[subject].warned.append(kind)
    silent = _silent_gateways(conn, month, [s for s in found if any((s, k) not in versions for k in KINDS)])
    for school in found.values():
        school.silent = silent.get(school.school_id, [])
        for kind in KINDS:
            version = versions.get((school.school_id, kind))
            if version is None:
                state = "waiting" if school.silent else "not_issued"
            else:
                school.versions[kind] = version
                got = receipts.get((school.school_id, kind, version), [])
                state = "acknowledged" if got and all(got) else "delivered" if any(got) else "issued"
            school.states[kind] = state
            school.late[kind] = state != "acknowledged" and today > deadline
    return RegionMonth(region_id or "", month, deadline, warning_day(deadline), list(found.values()))


def _silent_gateways(conn: Connection, month: str, school_ids: list[str]) -> dict[str, list[str]]:
    """The gateways of ``school_ids`` not heard from since ``month`` ended (none for a month not over: its
    reports are not due, nobody waits yet).

    Asked only of the schools with a report not issued, in one query: each gateway's probe of its newest
    packet since the month's end goes by the (gateway, time) index. Citus runs no subquery correlated
    with the gateways (a reference table): there, one probe a gateway, as the report job asks."""
    end = month_end(month)
    if not school_ids or datetime.now(UTC) < end:
        return {}
    g, p = gateways.c, packets.c
    if is_citus(conn):
        silent_ids = set(missing_gateways(conn, month, school_ids))
        rows = conn.execute(select(g.school_id, g.gateway_id).where(g.school_id.in_(school_ids))).all()
        found = [(s, gw) for s, gw in rows if gw in silent_ids]
    else:
        heard = exists().where(p.gateway_id == g.gateway_id, p.school_id == g.school_id, p.received_at >= end)
        found = list(conn.execute(select(g.school_id, g.gateway_id).where(g.school_id.in_(school_ids), ~heard)))
    silent: dict[str, list[str]] = defaultdict(list)
    for school_id, gateway_id in found:
        silent[school_id].append(gateway_id)
    return {s: sorted(gws) for s, gws in silent.items()}


@dataclass(frozen=True)
class MonthSums:
    """A month's sums of a region (or the country): as issued (``version``), or live (``version`` None)."""

    month: str
    version: int | None
    totals: dict[str, dict[str, int]]  # category → students, portions, paid_tiyn, state_tiyn
    schools: list[dict[str, Any]]  # each with school_id, name, meals (category → figures)

    @property
    def students(self) -> int:
        """Students fed on the month's days, a student counted once a day and category (student-days)."""
        return sum(self.totals[c]["students"] for c in CATEGORIES)

    @property
    def portions(self) -> int:
        """Portions served."""
        return sum(self.totals[c]["portions"] for c in CATEGORIES)

    @property
    def paid_tiyn(self) -> int:
        """What families paid."""
        return sum(self.totals[c]["paid_tiyn"] for c in CATEGORIES)

    @property
    def state_tiyn(self) -> int:
        """What the state owes: the full price of free and discounted portions less what families paid."""
        return sum(self.totals[c]["state_tiyn"] for c in CATEGORIES)


def month_sums(conn: Connection, region_id: str | None, month: str, *, live: bool = True) -> MonthSums | None:
    """The month's sums of ``region_id`` (None: the country) from its newest issued version; without one,
    summed live from the rollups (``live=False``: None instead, for a long series of months)."""
    subject, kind = (region_id, "region") if region_id is not None else (COUNTRY, "country")
    r = reports.c
    version = conn.execute(
        select(func.max(r.version)).where(r.subject == subject, r.month == month, r.kind == kind)
    ).scalar()
    content: dict[str, Any] | None = None
    if version is not None:
        data = read_file(conn, VersionKey(subject, month, kind, int(version)), f"{kind}.json")
        content = orjson.loads(data) if data else None
    if content is None:
        if not live:
            return None
        version = None
        content = region_report(conn, region_id, month)
    return MonthSums(month, None if version is None else int(version), content["totals"], content["schools"])


def country_regions(
    conn: Connection, month: str, today: date, policy: DeadlinePolicy
) -> tuple[list[dict[str, Any]], MonthSums]:
    """Each region's sums and its schools' report states counted, for the ministry; the country's sums."""
    sums = month_sums(conn, None, month)
    assert sums is not None
    region_by_school = dict(conn.execute(select(schools.c.school_id, schools.c.region_id)).all())
    states = region_month(conn, None, month, today, policy)
    rows: dict[str, dict[str, Any]] = {}

    def row(region: str) -> dict[str, Any]:
        if region not in rows:
            rows[region] = {
                "region_id": region,
                "schools": 0,
                "counts": dict.fromkeys((*STATES, "late", "warned"), 0),
                "totals": {
                    c: dict.fromkeys(("students", "portions", "paid_tiyn", "state_tiyn"), 0) for c in CATEGORIES
                },
            }
        return rows[region]

    for school in states.schools:
        line = row(region_by_school[school.school_id])
        line["schools"] += 1
        line["counts"][school.worst] += 1
        line["counts"]["late"] += school.is_late
        line["counts"]["warned"] += bool(school.warned)
    for school in sums.schools:
        region = region_by_school.get(school["school_id"])
        if region is None:  # a school with gateways but not in the schools table: no region to add it to
            continue
        line = row(region)
        for c in CATEGORIES:
            for figure, value in school["meals"][c].items():
                line["totals"][c][figure] += value
    return [rows[k] for k in sorted(rows)], sums
