"""Security events (Order No. 456 §5.20) as a SIEM collects them: one JSON line per event in the file,
and the same event over syslog, each caused by what a person (or a gateway) does."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import Engine
from typer.testing import CliRunner

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.app import create_app
from cloud_api.cli import app as cloud_cli
from cloud_api.core.security_events import Kind, Outcome, SecurityLog, record_security_event, using_security_log
from cloud_api.services.accounts import MAX_FAILURES, SYSTEM, Role, create_account, grant_role
from cloud_api.settings import CloudSettings
from tests.cloud_api.helpers import ADMIN, admin, batch_body, event, signed
from tests.cloud_api.school import PASSWORD, World

# The sign-in's lock is counted by a query over every shard: the one case worth the cluster's second.
ON_CITUS = {"test_a_wrong_password_five_times_is_five_failures_and_a_burst"}
FIELDS = {"time", "kind", "outcome", "actor", "source_ip", "school", "target", "details"}
OFFICE = {"Accept-Language": "ru"}


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "security.jsonl"


@pytest.fixture
def settings(database_url: str, log_path: Path) -> CloudSettings:
    """The conftest's settings, writing security events to ``log_path``."""
    return CloudSettings(database_url=database_url, admin_token=ADMIN, push_workers=0, security_log=log_path)


def lines(path: Path, kind: Kind | None = None) -> list[dict[str, Any]]:
    """The events in the file (each line must be one JSON object with every field), of ``kind`` if given."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        assert set(item) == FIELDS, line
        assert item["time"].endswith("+00:00")
        found.append(item)
    return [e for e in found if kind is None or e["kind"] == kind]


def _office_sign_in(client: TestClient, login: str, password: str) -> Any:
    return client.post(
        "/office/sign-in", data={"login": login, "password": password, "lang": "ru"}, follow_redirects=False
    )


def test_a_wrong_password_five_times_is_five_failures_and_a_burst(world: World, log_path: Path) -> None:
    head = world.ids["head1"]
    for _ in range(MAX_FAILURES):
        assert "failed=sign_in_failed" in _office_sign_in(world.client, "head@s1.kz", "wrong guess").headers["location"]
    locked = _office_sign_in(world.client, "head@s1.kz", PASSWORD)  # the right one, too late
    assert "failed=login_locked" in locked.headers["location"]
    # A password typed into the login field stays out of the stream.
    _office_sign_in(world.client, "my secret password", "x")

    failures = lines(log_path, Kind.SIGN_IN_FAILED)
    assert [(e["outcome"], e["details"]["reason"]) for e in failures] == [
        *[("failure", "bad_password")] * MAX_FAILURES,
        ("refused", "locked"),
        ("failure", "unknown_login"),
    ]
    assert {(e["actor"], e["school"], e["details"]["login"]) for e in failures[:-1]} == {
        (f"account:{head}", "s1", "head@s1.kz")
    }
    assert failures[-1]["details"]["login"] is None and failures[-1]["actor"] is None
    assert {e["source_ip"] for e in failures} == {"testclient"}  # the TestClient's address
    [burst] = lines(log_path, Kind.SIGN_IN_BURST)
    assert (burst["outcome"], burst["details"]["reason"], burst["details"]["failures"]) == (
        "refused",
        "locked",
        MAX_FAILURES,
    )
    # The burst comes right after the failure that caused it, before the locked attempt.
    kinds = [e["kind"] for e in lines(log_path) if e["kind"].startswith("sign_in")]
    assert kinds.index("sign_in_burst") == MAX_FAILURES
    text = log_path.read_text()
    assert "wrong guess" not in text and PASSWORD not in text and "my secret password" not in text


def test_a_replayed_or_badly_signed_batch_is_a_refused_packet(client: TestClient, log_path: Path) -> None:
    body = batch_body([event(1)])
    headers = signed(body)
    assert client.post("/v1/ingest/batches", content=body, headers=headers).status_code == 200
    assert client.post("/v1/ingest/batches", content=body, headers=headers).status_code == 401  # the replay
    forged = {**signed(body, key="not-the-key")}
    assert client.post("/v1/ingest/batches", content=body, headers=forged).status_code == 401
    refused = lines(log_path, Kind.PACKET_REFUSED)
    assert [(e["details"]["reason"], e["target"], e["outcome"]) for e in refused] == [
        ("replayed", "gateway:gw1", "refused"),
        ("bad_signature", "gateway:gw1", "refused"),
    ]
    assert refused[0]["details"]["path"] == "/v1/ingest/batches" and refused[0]["source_ip"] == "testclient"


def test_each_use_of_the_admin_token_is_an_event(client: TestClient, log_path: Path) -> None:
    assert client.get("/v1/sign-in-failures", headers=admin()).status_code == 200
    assert client.get("/v1/sign-in-failures", headers=admin("a wrong token")).status_code == 401
    [used] = lines(log_path, Kind.ADMIN_TOKEN_USED)
    assert (used["actor"], used["outcome"], used["details"]) == (
        SYSTEM,
        "success",
        {"method": "GET", "path": "/v1/sign-in-failures"},
    )
    assert ADMIN not in log_path.read_text()


def _office(world: World, login: str) -> TestClient:
    token = world.token(login)["Authorization"].removeprefix("Bearer ")
    world.client.cookies.set(SESSION_COOKIE, token)
    return world.client


def test_a_role_granted_in_the_office_is_an_event(world: World, log_path: Path) -> None:
    office = _office(world, "head@s1.kz")
    before = len(lines(log_path, Kind.ROLE_GRANTED))  # the sample school's own accounts, granted at its seeding
    made = office.post("/office/schools/s1/accounts/staff", data={"login": "cook3@s1.kz", "role": "canteen_staff"})
    assert made.status_code in (200, 303)
    taken = office.post("/office/schools/s1/accounts/staff", data={"login": "cook3@s1.kz", "role": "school_admin"})
    assert taken.status_code == 422  # refused: no grant, no event
    granted = lines(log_path, Kind.ROLE_GRANTED)[before:]
    assert len(granted) == 1
    [grant] = granted
    assert grant["actor"] == f"account:{world.ids['head1']}" and grant["school"] == "s1"
    assert grant["details"] == {"role": "canteen_staff", "scope": "s1", "login": "cook3@s1.kz"}
    assert grant["target"].startswith("account:")


def test_a_second_factor_reset_in_the_office_is_an_event(world: World, log_path: Path) -> None:
    world.token("cook@s1.kz")  # the cook sets up her app at her first sign-in
    office = _office(world, "head@s1.kz")
    cook = world.ids["cook1"]
    reset = office.post(f"/office/schools/s1/accounts/{cook}/second-factor", headers=OFFICE)
    assert reset.status_code in (200, 303)
    [event_] = lines(log_path, Kind.SECOND_FACTOR_RESET)
    assert (event_["actor"], event_["target"], event_["school"], event_["details"]) == (
        f"account:{world.ids['head1']}",
        f"account:{cook}",
        "s1",
        {"by": "another_account"},
    )


def test_a_school_export_and_a_list_of_people_downloaded_are_events(world: World, log_path: Path) -> None:
    office = _office(world, "head@s1.kz")
    people = office.get("/office/schools/s1/people", params={"role": "student", "format": "csv"})
    assert people.headers["content-type"].startswith("text/csv")
    office.post("/office/schools/s1/export")
    page = None
    for _ in range(100):  # the background worker makes it
        page = office.get("/office/schools/s1/export")
        if "/archive.zip" in page.text:
            break
        time.sleep(0.1)
    assert page is not None
    link = re.search(r'href="(/office/schools/s1/export/[^"]+/archive.zip)"', page.text).group(1)  # type: ignore[union-attr]
    assert office.get(link).content[:2] == b"PK"
    exports = lines(log_path, Kind.PERSONAL_DATA_EXPORT)
    assert [(e["target"], e["details"]["format"]) for e in exports] == [
        ("people-s1", "csv"),
        (f"export-{link.split('/')[-2]}", "zip"),
    ]
    assert exports[0]["details"]["rows"] == 3  # the school's three students
    assert {e["actor"] for e in exports} == {f"account:{world.ids['head1']}"}


@pytest.fixture
def syslog() -> Iterator[socket.socket]:
    """A syslog collector: a UDP socket on a free port of this machine."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(10)
    yield listener
    listener.close()


def test_an_event_reaches_syslog_over_udp(database_url: str, syslog: socket.socket) -> None:
    port = syslog.getsockname()[1]
    settings = CloudSettings(
        database_url=database_url, admin_token=ADMIN, push_workers=0, security_syslog=f"udp://127.0.0.1:{port}"
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/sign-in-failures", headers=admin()).status_code == 200
    message = syslog.recv(65536).decode()
    # <PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG: authpriv (10) × 8 + warning (4).
    head, _, body = message.partition(" - ")
    assert re.fullmatch(r"<84>1 \S+Z \S+ mektep-cloud \d+ admin_token_used", head), head
    item = json.loads(body)
    assert set(item) == FIELDS and item["kind"] == "admin_token_used"


def _failures(sink: str) -> float:
    return REGISTRY.get_sample_value("mektep_security_log_failures_total", {"sink": sink}) or 0.0


def test_an_unwritable_log_does_not_break_sign_in(database_url: str, tmp_path: Path) -> None:
    # A directory where the file should be: no file can be opened there, whoever runs the tests.
    settings = CloudSettings(database_url=database_url, admin_token=ADMIN, push_workers=0, security_log=tmp_path)
    before = _failures("file")
    with TestClient(create_app(settings)) as client:
        client.headers["Origin"] = "http://testserver"
        with client.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
            account = create_account(conn, "parent@mail.kz", actor=SYSTEM, password=PASSWORD, school_id="s1")
            grant_role(conn, account.id, Role.GUARDIAN, "s1", actor=SYSTEM)
        wrong = client.post("/v1/auth/sign-in", json={"login": "parent@mail.kz", "password": "a wrong one"})
        assert wrong.status_code == 401
        right = client.post("/v1/auth/sign-in", json={"login": "parent@mail.kz", "password": PASSWORD})
        assert right.status_code == 200 and right.json()["token"]
    assert _failures("file") >= before + 1  # the failed attempt's event: counted, not raised


def test_an_event_of_a_transaction_rolled_back_is_never_written(engine: Engine, log_path: Path) -> None:
    log = SecurityLog(log_path)
    with using_security_log(log, "10.0.0.7"):
        with pytest.raises(RuntimeError), engine.begin() as conn:
            record_security_event(Kind.ROLE_GRANTED, Outcome.SUCCESS, target="account:rolled-back", conn=conn)
            raise RuntimeError("the form was refused after the grant")
        with engine.begin() as conn:
            record_security_event(Kind.ROLE_GRANTED, Outcome.SUCCESS, target="account:kept", conn=conn)
            assert lines(log_path) == []  # not before the commit
    assert [(e["target"], e["source_ip"]) for e in lines(log_path)] == [("account:kept", "10.0.0.7")]


def test_a_mistyped_syslog_address_fails_at_start_up() -> None:
    for wrong in ("127.0.0.1:514", "http://collector:514", "udp://:514", "udp://collector:port"):
        with pytest.raises(ValidationError, match="security_syslog"):
            CloudSettings(security_syslog=wrong)
    assert CloudSettings(security_syslog="/dev/log").security_syslog == "/dev/log"


def test_an_administrator_added_on_the_command_line_is_a_role_grant(database_url: str, log_path: Path) -> None:
    made = CliRunner().invoke(
        cloud_cli,
        ["admin-add", "it@mektep.kz", "--deployment", "--password-env", "PW", "--actor", "aidos"],
        env={"PW": PASSWORD, "MEKTEP_CLOUD_DATABASE_URL": database_url, "MEKTEP_CLOUD_SECURITY_LOG": str(log_path)},
    )
    assert made.exit_code == 0, made.output
    [grant] = lines(log_path, Kind.ROLE_GRANTED)
    assert (grant["actor"], grant["details"]["role"], grant["details"]["scope"]) == ("aidos", "deployment_admin", None)
