"""Absence and lateness (issue 21): the not-arrived sweep, left early at ingest, reported absences.

Service-level and on SQLite only: the SQL is plain (no upsert beyond the family notice's, which the
push tests run on every database); the Chromium test walks the whole flow on the app. One database
migrated for the module, a school of its own for each test (a migration per test costs seconds).
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import openpyxl
import pytest
from sqlalchemy import Engine, delete, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import audit_log, events, metadata, push_queue
from cloud_api.push.absence_worker import AbsenceWorker
from cloud_api.reports.build import attendance_report
from cloud_api.reports.formats import render
from cloud_api.reports.rollups import roll_up
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.absence_notices import queue_left_early, queue_not_arrived
from cloud_api.services.absences import absences_of, report_absence, withdraw_absence
from cloud_api.services.consent import set_consent
from cloud_api.services.ingest import event_row
from cloud_api.services.roster_import import import_roster
from cloud_api.services.school_hours import ClassDay, SchoolHours, school_hours_of, set_school_hours
from shared.contract import Event
from shared.localtime import LOCAL_TZ
from tests.cloud_api.school import CHILD, FATHER, GOOD, HEADER, MOTHER, OTHER_CHILD, S1_EXTRA, TEEN, people_by_iin

TUESDAY = date(2026, 12, 8)  # a working day in Kazakhstan
SATURDAY = date(2026, 12, 12)
INDEPENDENCE_DAY = date(2026, 12, 16)  # a public holiday, a Wednesday
# The school's day 08:00–14:00 with 15 minutes' grace; 9 А is the second shift, 13:00–18:00.
HOURS = SchoolHours(ClassDay(time(8), time(14)), 15, {"9А": ClassDay(time(13), time(18))})


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A local time on ``day`` as the aware UTC instant the services take."""
    return datetime.combine(day, time(hh, mm), LOCAL_TZ).astimezone(UTC)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('absences') / 'cloud.db'}"
    upgrade(url)
    made = make_engine(url)
    yield made
    made.dispose()


@pytest.fixture(autouse=True)
def empty(engine: Engine) -> None:
    """Each test on an empty school: what the one before wrote goes (the tables this module writes)."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if "school_id" in table.c:
                conn.execute(delete(table))


@pytest.fixture
def ids(engine: Engine) -> dict[str, UUID]:
    """Three students (3Б and 4А in the first shift, 9А in the second), all consenting, and the day set."""
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD, *S1_EXTRA]), actor="admin")
        found = people_by_iin(conn)
        for child, guardian in ((CHILD, MOTHER), (TEEN, MOTHER), (OTHER_CHILD, FATHER)):
            set_consent(conn, "s1", found[child], found[guardian], True, actor="test")
        set_school_hours(conn, "s1", HOURS, actor="account:head", now=at(TUESDAY, 7))
    return found


def notices(engine: Engine, kind: str) -> list[tuple[UUID, dict[str, str]]]:
    with engine.connect() as conn:
        q = select(push_queue.c.person_id, push_queue.c.facts).where(push_queue.c.kind == kind)
        return [(row.person_id, row.facts) for row in conn.execute(q.order_by(push_queue.c.id))]


def sweep(engine: Engine, now: datetime) -> int:
    with engine.begin() as conn:
        hours = school_hours_of(conn, "s1")
        assert hours is not None
        return queue_not_arrived(conn, "s1", hours, now)


def passage(person: UUID, kind: str, when: datetime, decision: str = "granted") -> Event:
    return Event.model_validate(
        {
            "id": str(uuid.uuid4()),
            "seq": 1,
            "school_id": "s1",
            "gateway_id": "gw1",
            "device_id": "turnstile-1",
            "kind": kind,
            "person_id": str(person),
            "occurred_at": when.astimezone(LOCAL_TZ).isoformat(),
            "decision": decision,
            "reason": "on_roster",
            "judged_without_roster": False,
        }
    )


def store(engine: Engine, *stored: Event) -> None:
    """Store events as ingest does (the rows, and the day's rollups the report reads)."""
    with engine.begin() as conn:
        conn.execute(insert(events), [event_row(e, e.occurred_at, 1) for e in stored])
        roll_up(conn, "s1", stored, {})


def test_each_class_is_noticed_at_its_start_plus_the_grace_once_on_school_days(
    engine: Engine, ids: dict[str, UUID]
) -> None:
    assert sweep(engine, at(SATURDAY, 9)) == 0
    assert sweep(engine, at(INDEPENDENCE_DAY, 9)) == 0
    assert sweep(engine, at(TUESDAY, 8, 14)) == 0  # within the grace
    assert sweep(engine, at(TUESDAY, 8, 15)) == 2  # 3б and 4А; 9 А starts at 13:00
    assert {p for p, _ in notices(engine, "not_arrived")} == {ids[CHILD], ids[OTHER_CHILD]}
    assert notices(engine, "not_arrived")[0][1] == {"deadline": at(TUESDAY, 8, 15).isoformat()}
    assert sweep(engine, at(TUESDAY, 8, 20)) == 0  # swept again (another process, a retry): nothing twice
    assert sweep(engine, at(TUESDAY, 13, 15)) == 1  # the second shift's deadline
    assert len(notices(engine, "not_arrived")) == 3
    assert sweep(engine, at(TUESDAY, 18, 30)) == 0  # every class's day is over: too late to say


def test_no_notice_for_a_child_who_came_is_reported_sick_or_has_no_consent(
    engine: Engine, ids: dict[str, UUID]
) -> None:
    store(engine, passage(ids[CHILD], "entry", at(TUESDAY, 7, 50)))
    store(engine, passage(ids[TEEN], "entry", at(TUESDAY, 7, 55), decision="denied"))  # refused: not at school
    with engine.begin() as conn:
        report_absence(
            conn, "s1", ids[FATHER], ids[OTHER_CHILD], TUESDAY, TUESDAY, "sick", None, actor="t", now=at(TUESDAY, 7)
        )
        set_consent(conn, "s1", ids[TEEN], ids[MOTHER], False, actor="test")  # withdrawn
    assert sweep(engine, at(TUESDAY, 13, 30)) == 0
    assert notices(engine, "not_arrived") == []


def test_the_worker_catches_up_after_a_restart_but_never_for_a_past_day(engine: Engine, ids: dict[str, UUID]) -> None:
    clock = [at(TUESDAY, 10)]  # the process was down at 08:15
    worker = AbsenceWorker(engine, clock=lambda: clock[0])
    asyncio.run(worker.round())
    assert {p for p, _ in notices(engine, "not_arrived")} == {ids[CHILD], ids[OTHER_CHILD]}
    assert worker.interval_s == 60.0  # the next deadline (13:15) is hours away: it looks again within a minute
    clock[0] = at(TUESDAY, 13, 14) + timedelta(seconds=50)
    asyncio.run(worker.round())
    assert worker.interval_s == pytest.approx(10.0)  # sleeps until the second shift's deadline
    fresh = AbsenceWorker(engine, clock=lambda: at(TUESDAY + timedelta(days=1), 7))  # Wednesday before 08:15
    asyncio.run(fresh.round())
    assert len(notices(engine, "not_arrived")) == 2  # Tuesday's 9 А missed its notice: a past day gets none


def test_left_early_only_between_the_start_and_the_end_of_the_class_day(engine: Engine, ids: dict[str, UUID]) -> None:
    early = passage(ids[CHILD], "exit", at(TUESDAY, 11, 30))
    after_end = passage(ids[OTHER_CHILD], "exit", at(TUESDAY, 14, 5))
    second_shift_morning = passage(ids[TEEN], "exit", at(TUESDAY, 11, 30))  # before 9 А's day begins
    saturday = passage(ids[CHILD], "exit", at(SATURDAY, 11))
    refused = passage(ids[OTHER_CHILD], "exit", at(TUESDAY, 10), decision="denied")
    with engine.begin() as conn:
        queued = queue_left_early(
            conn, "s1", [early, after_end, second_shift_morning, saturday, refused], at(TUESDAY, 14, 6)
        )
        again = queue_left_early(conn, "s1", [early], at(TUESDAY, 14, 7))  # a batch sent twice
    assert (queued, again) == (1, 0)
    assert notices(engine, "left_early") == [(ids[CHILD], {"at": at(TUESDAY, 11, 30).isoformat(), "end": "14:00"})]


def test_a_reported_absence_is_checked_audited_and_withdrawn_only_before_it_begins(
    engine: Engine, ids: dict[str, UUID]
) -> None:
    now = at(TUESDAY, 9)
    child, mother = ids[CHILD], ids[MOTHER]

    def report(first: date, last: date, reason: str = "sick", note: str | None = None, guardian: UUID = mother) -> UUID:
        with engine.begin() as conn:
            return report_absence(conn, "s1", guardian, child, first, last, reason, note, actor="account:m", now=now)

    refusals = {
        "absence_too_far_back": (TUESDAY - timedelta(days=31), TUESDAY - timedelta(days=30)),
        "absence_ends_before_start": (TUESDAY, TUESDAY - timedelta(days=1)),
        "absence_too_long": (TUESDAY, TUESDAY + timedelta(days=30)),
        "absence_too_far_ahead": (TUESDAY + timedelta(days=91), TUESDAY + timedelta(days=92)),
    }
    for code, (first, last) in refusals.items():
        with pytest.raises(DomainError) as refused:
            report(first, last)
        assert refused.value.code == code
    with pytest.raises(DomainError, match="bad_absence_reason"):
        report(TUESDAY, TUESDAY, reason="bored")
    with pytest.raises(DomainError, match="unknown_person"):
        report(TUESDAY, TUESDAY, guardian=ids[FATHER])  # another family's child
    today = report(TUESDAY, TUESDAY + timedelta(days=2), note="Тұмау")
    with pytest.raises(DomainError, match="absence_overlaps"):
        report(TUESDAY + timedelta(days=2), TUESDAY + timedelta(days=3))
    later = report(TUESDAY + timedelta(days=7), TUESDAY + timedelta(days=8), reason="family")
    with engine.begin() as conn:
        with pytest.raises(DomainError, match="absence_already_begun"):
            withdraw_absence(conn, "s1", mother, today, actor="account:m", now=now)
        withdraw_absence(conn, "s1", mother, later, actor="account:m", now=now)
        assert [(a["id"], a["note"]) for a in absences_of(conn, "s1", child)] == [(today, "Тұмау")]
        journal = conn.execute(
            select(audit_log.c.action, audit_log.c.after)
            .where(audit_log.c.entity == "absence")
            .order_by(audit_log.c.id)
        ).all()
    assert [action for action, _ in journal] == ["create", "create", "update"]
    assert journal[0].after["note"] is True  # that there is a note, never what it says


def test_reported_days_are_excused_in_the_attendance_report_and_its_tabel(engine: Engine, ids: dict[str, UUID]) -> None:
    monday = TUESDAY - timedelta(days=1)
    store(engine, passage(ids[TEEN], "entry", at(TUESDAY, 12, 50)))
    with engine.begin() as conn:
        # Sick Monday to Wednesday; the child came on Tuesday after all, and Wednesday is still to come.
        report_absence(
            conn,
            "s1",
            ids[MOTHER],
            ids[TEEN],
            monday,
            TUESDAY + timedelta(days=1),
            "sick",
            None,
            actor="t",
            now=at(monday, 7),
        )
        report_absence(
            conn, "s1", ids[FATHER], ids[OTHER_CHILD], TUESDAY, TUESDAY, "family", None, actor="t", now=at(monday, 7)
        )
        content = attendance_report(conn, "s1", "2026-12", now=at(TUESDAY, 20))
    days = {d["date"]: d for d in content["days"]}
    assert days[monday.isoformat()]["excused"] == 1
    assert days[TUESDAY.isoformat()]["excused"] == 1  # 4А's family day; 9 А's pupil came
    assert "excused" not in days[(TUESDAY + timedelta(days=1)).isoformat()]  # still to come
    people = {p["person_id"]: p for p in content["people"]}
    assert people[str(ids[TEEN])]["excused"] == [{"date": monday.isoformat(), "reason": "sick"}]
    assert people[str(ids[OTHER_CHILD])]["excused"] == [{"date": TUESDAY.isoformat(), "reason": "family"}]
    files = render(content, ("xlsx",), language="ru")
    book = openpyxl.load_workbook(io.BytesIO(files["attendance.xlsx"]), read_only=True)
    sheet = book["Поимённо"]
    rows = {r[0]: r for r in sheet.iter_rows(values_only=True)}
    assert rows["Иванов Пётр"][2 + monday.day - 1] == "Б"  # sick: Б, as the табель marks it
    assert rows["Ахметов Дана"][2 + TUESDAY.day - 1] == "У"  # another excused absence: У
