"""The NEDB exchange (§15) end to end: the worker's rounds against the simulated NEDB over real HTTP.

A school that opted in is pulled on schedule: new, changed and removed people are applied through
the roster importer, a record with a bad IIN is refused with its reason and the good rest applied,
the cursor moves only with what was applied. An NEDB that is down, slow, or answers unsigned
changes nothing and is tried again later; every packet is journalled with its signature either way.
The month's and the day's figures are sent once the period has closed, a refused figure is kept
with the NEDB's reason, and a packet sent again after an outage is the same packet.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cloud_api.background.http import RetryPolicy
from cloud_api.cli import app as cloud_cli
from cloud_api.core.data_keys import make_data_key
from cloud_api.core.security_events import SecurityLog
from cloud_api.db.engine import make_engine
from cloud_api.db.schema import audit_log, nedb_figures, nedb_packets, nedb_refusals, people
from cloud_api.nedb.client import NedbClient
from cloud_api.nedb.contract import (
    answer_signing_bytes,
    load_public_key,
    public_key_text,
    sign_answer,
    sign_request,
    verify_answer,
    verify_request,
)
from cloud_api.nedb.store import enable, link_of, refusals_of
from cloud_api.nedb.worker import NedbWorker, RoundReport
from cloud_api.services.audit import audit_entries
from cloud_api.services.journal import prune_packets
from cloud_api.settings import CloudSettings
from simulators.nedb import NedbServer
from tests.cloud_api.school import iin

ON_CITUS = {"test_a_delta_pulled_on_schedule_applies_new_changed_and_removed_people_and_keeps_a_refusal"}

ORG = "010101500001"
QUICK = RetryPolicy(initial_s=0.01, max_s=0.01, attempts=2, jitter=lambda: 1.0)
ALIYA = iin("15031950012")
PETR = iin("10062060034")
DANA = iin("14020350019")
MARAT = iin("79121130078")
BAD = ALIYA[:11] + str((int(ALIYA[11]) + 1) % 10)  # a digit wrong: the check digit fails


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def student(record_id: str, number: str, last: str, first: str, class_name: str, **more: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "op": "upsert",
        "kind": "student",
        "iin": number,
        "last_name": last,
        "first_name": first,
        "class_name": class_name,
        **more,
    }


FIRST = [
    {"record_id": "k1", "op": "upsert", "kind": "class", "class_name": "3Б"},
    {"record_id": "k2", "op": "upsert", "kind": "class", "class_name": "4А"},
    {"record_id": "k3", "op": "upsert", "kind": "class", "class_name": "9А"},
    student("r1", ALIYA, "Нұрланова", "Әлия", "3Б", language="kk"),
    student("r2", PETR, "Иванов", "Пётр", "9А", meal_category="discounted", discount_percent=50),
    student("r3", DANA, "Ахметова", "Дана", "4А"),
    {"record_id": "r4", "op": "upsert", "kind": "staff", "iin": MARAT, "last_name": "Сейітов", "first_name": "Марат"},
    student("r5", BAD, "Серікова", "Айгерім", "3Б"),  # refused: the IIN's check digit
    student("r6", iin("15050150021"), "Жоқ", "Сынып", "7В"),  # refused: no class 7В at the school
]


# One event loop for all of a test's rounds, as the app's worker has: its HTTP client lives on it.
_LOOP = asyncio.Runner()


def worker(engine: Engine, nedb: NedbServer, clock: Clock, *, timeout_s: float = 5.0) -> NedbWorker:
    http = httpx.AsyncClient(base_url=nedb.url, timeout=timeout_s)
    client = NedbClient(http, client_id="mektep-gate", key=nedb.client_key, public_key=nedb.public_key)
    return NedbWorker(engine, client, pull_every=timedelta(minutes=60), retry_s=60, policy=QUICK, clock=clock)


def run(w: NedbWorker) -> RoundReport:
    """One round of the worker, as the supervisor runs it."""
    _LOOP.run(w.round())
    assert w.last_report is not None
    return w.last_report


def roster(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row.iin: dict(row._mapping) for row in conn.execute(select(people).where(people.c.school_id == "s1"))}


def opted_in(engine: Engine, clock: Clock) -> None:
    with engine.begin() as conn:
        enable(conn, "s1", ORG, actor="system", now=clock.now)


def test_requests_and_answers_are_signed_and_a_changed_byte_fails() -> None:
    key, target = b"k" * 32, "/v1/organisations/x/roster-delta?since=c1"
    signature = sign_request(key, "GET", target, "1700000000", b"")
    assert verify_request(key, "GET", target, "1700000000", b"", signature)
    assert not verify_request(key, "GET", target.replace("c1", "c0"), "1700000000", b"", signature)
    assert not verify_request(key, "GET", target, "1700000001", b"", signature)
    assert not verify_request(b"j" * 32, "GET", target, "1700000000", b"", signature)
    nedb = Ed25519PrivateKey.generate()
    answer = sign_answer(nedb, 200, signature, "1700000001", b'{"a":1}')
    public = load_public_key(public_key_text(nedb.public_key()))
    assert verify_answer(public, 200, signature, "1700000001", b'{"a":1}', answer)
    assert not verify_answer(public, 200, signature, "1700000001", b'{"a":2}', answer)  # another body
    assert not verify_answer(public, 200, "another request", "1700000001", b'{"a":1}', answer)  # replayed
    assert not verify_answer(public, 503, signature, "1700000001", b'{"a":1}', answer)
    stranger = Ed25519PrivateKey.generate().public_key()
    assert not verify_answer(stranger, 200, signature, "1700000001", b'{"a":1}', answer)
    assert not verify_answer(public, 200, signature, "1700000001", b'{"a":1}', "not base64!")
    assert answer_signing_bytes(200, "s", "1", b"").startswith(b"200\ns\n1\n")
    with pytest.raises(ValueError, match="32 bytes"):
        load_public_key("AAAA")


def test_settings_need_both_keys_with_the_url_and_refuse_a_default_key_in_production() -> None:
    public = public_key_text(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ValidationError, match="NEDB_KEY and MEKTEP_CLOUD_NEDB_PUBLIC_KEY are required"):
        CloudSettings(nedb_url="https://nedb.example.kz")
    with pytest.raises(ValidationError, match="32 bytes"):
        CloudSettings(nedb_url="https://nedb.example.kz", nedb_key="k" * 20, nedb_public_key="AAAA")
    production = {
        "environment": "production",
        "admin_token": "f3a9c1e07b5d4e2a9c8b",
        "credential_key": "9b8e7d6c5b4a39281706",
        "data_key": make_data_key(),
    }
    with pytest.raises(ValidationError, match="MEKTEP_CLOUD_NEDB_KEY must be set to a non-default"):
        CloudSettings(nedb_url="https://nedb.example.kz", nedb_key="secret", nedb_public_key=public, **production)
    ok = CloudSettings(nedb_url="https://nedb.example.kz", nedb_key="n" * 20, nedb_public_key=public, **production)
    assert ok.nedb_pull_minutes == 60


def test_a_delta_pulled_on_schedule_applies_new_changed_and_removed_people_and_keeps_a_refusal(engine: Engine) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, clock)
    with NedbServer() as nedb:
        first = nedb.publish(ORG, FIRST)
        w = worker(engine, nedb, clock)
        report = run(w)
        assert report.pulled == ["s1"] and report.failed == {}
        people_now = roster(engine)
        assert set(people_now) == {ALIYA, PETR, DANA, MARAT}  # the two refused are not there
        assert people_now[ALIYA]["class_name"] == "3Б" and people_now[ALIYA]["meal_category"] == "free"
        assert people_now[PETR]["discount_percent"] == 50
        with engine.connect() as conn:
            link = link_of(conn, "s1")
            refused = {r["reason"]: r for r in refusals_of(conn, "s1", "in")}
        assert link is not None and link.cursor == first and link.last_refused == 2
        assert link.classes == ["3Б", "4А", "9А"]
        assert set(refused) == {"iin_bad_check_digit", "nedb_class_not_listed"}
        assert refused["iin_bad_check_digit"]["detail"] == {
            "name": "Серікова Айгерім",
            "class": "3Б",
            "iin": BAD,
            "column": "iin",
            "value": BAD,
        }

        # Not due yet: the next round asks nothing.
        run(w)
        assert len(nedb.state.pulls) == 1

        # The next version: Пётр moves class, Дана leaves, Әлия loses her free meal (grade 3 stays
        # free by age, so the NEDB says paid explicitly), a new boy arrives, a removal of nobody.
        second = nedb.publish(
            ORG,
            [
                student("r7", PETR, "Иванов", "Пётр", "9А", meal_category="discounted", discount_percent=70),
                {"record_id": "r8", "op": "remove", "kind": "student", "iin": DANA},
                {"record_id": "r9", "op": "upsert", "kind": "eligibility", "iin": ALIYA, "meal_category": "paid"},
                student("r10", iin("16010150035"), "Омаров", "Нұр", "3Б"),
                {"record_id": "r11", "op": "remove", "kind": "student", "iin": iin("15050150021")},
            ],
        )
        clock.now += timedelta(minutes=61)
        report = run(w)
        assert report.pulled == ["s1"] and report.applied == 4 and report.refused == 1
        assert nedb.state.pulls[-1] == (ORG, first)  # asked from the cursor it held
        people_now = roster(engine)
        assert people_now[PETR]["discount_percent"] == 70
        assert people_now[DANA]["active"] is False
        assert people_now[ALIYA]["meal_category"] == "paid" and people_now[ALIYA]["class_name"] == "3Б"
        assert people_now[iin("16010150035")]["class_name"] == "3Б"
        with engine.connect() as conn:
            link = link_of(conn, "s1")
            assert link is not None and link.cursor == second and link.last_applied == 4
            actors = set(conn.execute(select(audit_log.c.actor).where(audit_log.c.school_id == "s1")).scalars())
            journal = conn.execute(select(nedb_packets).where(nedb_packets.c.school_id == "s1")).all()
        assert "nedb" in actors  # the changes are journalled as the exchange's
        assert [(p.direction, p.verified) for p in journal].count(("in", True)) == 2
        assert all(p.signature for p in journal)


def test_an_nedb_down_slow_or_unsigned_changes_nothing_and_is_tried_again_later(engine: Engine) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, clock)
    with NedbServer() as nedb:
        nedb.publish(ORG, FIRST[:4])
        w = worker(engine, nedb, clock, timeout_s=0.5)

        nedb.fail(100)
        report = run(w)
        assert report.failed == {"s1": 'HTTP 503: {"detail": "the NEDB is unavailable"}'}
        with engine.connect() as conn:
            link = link_of(conn, "s1")
            sent = conn.execute(select(nedb_packets.c.direction)).scalars().all()
        assert link is not None and link.cursor is None and link.failures == 1 and link.failing_since == clock.now
        assert link.next_pull_at == clock.now + timedelta(seconds=60)  # the backoff, not the hour
        assert sent.count("out") == 2 and sent.count("in") == 2  # both tries kept, with their answers
        assert roster(engine) == {}

        # Still down a minute later: the backoff doubles.
        clock.now += timedelta(seconds=61)
        run(w)
        with engine.connect() as conn:
            link = link_of(conn, "s1")
        assert link is not None and link.failures == 2 and link.next_pull_at == clock.now + timedelta(seconds=120)

        # Slow: past the client's timeout, no answer at all.
        nedb.fail(0)
        nedb.delay(1.0)
        clock.now += timedelta(seconds=121)
        assert run(w).failed["s1"].startswith("transport: ReadTimeout")
        nedb.delay(0)

        # Answered, but unsigned: journalled, not processed.
        nedb.unsigned()
        clock.now += timedelta(seconds=241)
        assert run(w).failed == {"s1": "the answer's signature does not verify under the NEDB's key"}
        with engine.connect() as conn:
            link = link_of(conn, "s1")
            unverified = conn.execute(select(nedb_packets).where(nedb_packets.c.verified.is_(False))).all()
        assert link is not None and link.cursor is None and roster(engine) == {}
        assert unverified and all(p.status_code == 200 for p in unverified)

        # Back to normal: everything arrives, nothing was lost.
        nedb.unsigned(False)
        clock.now += timedelta(minutes=10)
        assert run(w).pulled == ["s1"]
        assert set(roster(engine)) == {ALIYA}
        with engine.connect() as conn:
            link = link_of(conn, "s1")
        assert link is not None and link.cursor == "c4" and link.failures == 0 and link.failing_since is None


def test_a_long_delta_comes_in_pages_each_applied_with_its_cursor(engine: Engine) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, clock)
    with NedbServer(page_size=2) as nedb:
        nedb.publish(ORG, FIRST[:7])
        report = run(worker(engine, nedb, clock))
    assert report.pulled == ["s1"] and report.applied == 7  # 3 classes, 4 people
    assert [since for _org, since in nedb.state.pulls] == [None, "c2", "c4", "c6"]
    with engine.connect() as conn:
        link = link_of(conn, "s1")
    assert link is not None and link.cursor == "c7"
    assert set(roster(engine)) == {ALIYA, PETR, DANA, MARAT}


def test_the_closed_month_and_yesterday_are_sent_once_and_a_refused_figure_is_kept(engine: Engine) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, Clock(clock.now - timedelta(days=70)))
    with NedbServer() as nedb:
        nedb.publish(ORG, FIRST[:4])
        nedb.refuse(lambda r: r.record_id == "meals/total/paid", "inconsistent", "платное питание не собирается")
        nedb.fail(2)  # the pull's two tries fail; the figures go through
        w = worker(engine, nedb, clock)
        report = run(w)
        assert report.queued == 2 and report.sent == 2 and report.figures_refused == 2  # monthly and daily
        kinds = {p.kind for p in nedb.state.received.values()}
        assert kinds == {"monthly", "daily"}
        with engine.connect() as conn:
            rows = conn.execute(select(nedb_figures)).all()
            refused = refusals_of(conn, "s1", "out")
        assert {r.state for r in rows} == {"answered"} and all(r.refused == 1 for r in rows)
        assert {(r["record_id"], r["reason"], r["message"]) for r in refused} == {
            ("meals/total/paid", "inconsistent", "платное питание не собирается")
        }
        # Nothing new is due the next round: each period goes once.
        clock.now += timedelta(minutes=5)
        assert run(w).queued == 0
        assert len(nedb.state.received) == 2


def test_figures_not_answered_go_again_later_as_the_same_packet(engine: Engine) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, Clock(clock.now - timedelta(days=70)))
    with NedbServer() as nedb:
        nedb.publish(ORG, [])
        w = worker(engine, nedb, clock)
        nedb.fail(100)
        report = run(w)
        assert report.queued == 2 and report.sent == 0 and report.send_failed == 2
        with engine.connect() as conn:
            waiting = conn.execute(select(nedb_figures)).all()
        assert {r.state for r in waiting} == {"pending"} and all(r.last_error for r in waiting)
        nedb.fail(0)
        run(w)  # the lease: not before its retry time
        assert nedb.state.received == {}
        clock.now += timedelta(minutes=2)
        assert run(w).sent == 2
        assert set(nedb.state.received) == {r.id for r in waiting}  # the very packets queued
        with engine.connect() as conn:
            assert {r.state for r in conn.execute(select(nedb_figures))} == {"answered"}
            assert conn.execute(select(nedb_refusals)).all() == []


def test_the_nedb_refuses_a_request_signed_with_another_key_and_nothing_is_applied(engine: Engine) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, clock)
    with NedbServer() as nedb:
        nedb.publish(ORG, FIRST[:4])
        http = httpx.AsyncClient(base_url=nedb.url, timeout=5.0)
        wrong = NedbClient(http, client_id="mektep-gate", key=b"not the agreed key", public_key=nedb.public_key)
        w = NedbWorker(engine, wrong, pull_every=timedelta(minutes=60), policy=QUICK, clock=clock)
        report = run(w)
    assert report.failed == {"s1": 'HTTP 401: {"detail": "the request\'s signature does not verify"}'}
    assert nedb.state.unauthorised == 2 and nedb.state.pulls == []
    assert roster(engine) == {}


def test_the_nedb_packets_are_kept_for_the_journal_retention_then_pruned(engine: Engine) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, clock)
    with NedbServer() as nedb:
        nedb.publish(ORG, FIRST[:4])
        run(worker(engine, nedb, clock))
    with engine.begin() as conn:
        assert prune_packets(conn, clock.now + timedelta(days=399), 400) == 0
        assert prune_packets(conn, clock.now + timedelta(days=401), 400) == 2  # the request and its answer
        assert conn.execute(select(nedb_packets)).all() == []


def test_the_deployment_opts_a_school_in_and_out_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    bad = runner.invoke(cloud_cli, ["nedb-enable", "s1", "not a code!", "--database-url", url], env={"COLUMNS": "200"})
    assert bad.exit_code == 2 and "not an NEDB organisation code" in bad.output
    on = runner.invoke(cloud_cli, ["nedb-enable", "s1", ORG, "--actor", "it", "--database-url", url])
    assert on.exit_code == 0 and f"takes part in the NEDB exchange as {ORG}" in on.output
    again = runner.invoke(cloud_cli, ["nedb-enable", "s1", ORG, "--database-url", url])
    assert "already takes part" in again.output
    off = runner.invoke(cloud_cli, ["nedb-disable", "s1", "--actor", "it", "--database-url", url])
    assert off.exit_code == 0 and "left the NEDB exchange" in off.output
    engine = make_engine(url)
    with engine.connect() as conn:
        assert link_of(conn, "s1") is None
        journal = [(e["action"], e["actor"]) for e in audit_entries(conn, "s1", "nedb_link")]
    engine.dispose()
    assert journal == [("create", "it"), ("delete", "it")]


def test_an_unsigned_answer_is_a_security_event_and_a_page_limit_leaves_the_rest_to_the_next_round(
    engine: Engine, tmp_path: Path
) -> None:
    clock = Clock(datetime.now(UTC))
    opted_in(engine, clock)
    log = SecurityLog(tmp_path / "security.jsonl")
    with NedbServer(page_size=2) as nedb:
        nedb.publish(ORG, FIRST[:7])
        w = worker(engine, nedb, clock)
        w._security_log, w._max_pages = log, 2
        nedb.unsigned()
        run(w)
        events = [json.loads(line) for line in (tmp_path / "security.jsonl").read_text().splitlines()]
        assert {(e["kind"], e["actor"], e["school"], e["details"]["reason"]) for e in events} == {
            ("packet_refused", "nedb", "s1", "unverified_answer")
        }
        nedb.unsigned(False)
        clock.now += timedelta(minutes=2)
        assert run(w).applied == 4  # two pages of the four
        with engine.connect() as conn:
            link = link_of(conn, "s1")
        assert link is not None and link.cursor == "c4" and link.next_pull_at == clock.now  # due again at once
        run(w)
        with engine.connect() as conn:
            link = link_of(conn, "s1")
        assert link is not None and link.cursor == "c7" and link.next_pull_at == clock.now + timedelta(minutes=60)
    log.close()
