"""Families' accounts from the roster with activation codes, passwords chosen with one-time codes (a letter,
an administrator's reset, an e-mail through a real SMTP server), and codes that expire, work once and die
after five wrong tries."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as email_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from cloud_api.db.schema import one_time_codes
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.audit import audit_entries
from cloud_api.services.roster_import import import_roster
from simulators.broker import free_port
from tests.cloud_api.helpers import admin
from tests.cloud_api.school import GOOD, HEADER, S1_EXTRA, World, iin

AUNT = iin("90010140011")
NEPHEW = iin("12050150018")
NEW_ROWS = [
    ["guardian", AUNT, "Омарова", "Айгүл", "", "ru", "", "", "", "aigul@mail.kz", NEPHEW],
    ["student", NEPHEW, "Омаров", "Тимур", "5А", "ru", "", "", "+7 705 555 44 33", "", ""],
]


@pytest.fixture
def roster(world: World) -> World:
    with world.app.state.engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD, *S1_EXTRA, *NEW_ROWS]), actor="admin")
    return world


def _activate(world: World, letter: dict[str, str], code: str, password: str) -> tuple[int, str]:
    body = {"account_id": letter["account_id"], "code": code, "password": password}
    r = world.client.post("/v1/auth/activate", json=body)
    return r.status_code, (r.json()["detail"]["code"] if r.content else "")


def test_the_school_makes_families_accounts_from_the_roster_with_letters(roster: World) -> None:
    world = roster
    head = world.token("head@s1.kz")
    batch = world.client.post("/v1/schools/s1/accounts/activation", headers=head).json()
    letters = {letter["login"]: letter for letter in batch["letters"]}
    assert set(letters) == {"aigul@mail.kz", "+77055554433"}  # the two with contacts and no account yet
    aunt = letters["aigul@mail.kz"]
    assert aunt["role"] == "guardian" and aunt["name"] == "Омарова Айгүл" and aunt["children"] == ["Омаров Тимур, 5А"]
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", aunt["code"])
    assert aunt["link"].endswith(f"/app/activate?a={aunt['account_id']}&c={aunt['code']}&p=activation")
    assert {(s["name"], s["reason"]) for s in batch["skipped"]} >= {("Нұрланова Әлия", "no_contact")}
    # A second run makes nothing twice.
    assert world.client.post("/v1/schools/s1/accounts/activation", headers=head).json()["letters"] == []
    # Nobody signs in before choosing a password ...
    r = world.client.post("/v1/auth/sign-in", json={"login": "aigul@mail.kz", "password": "anything at all"})
    assert r.status_code == 401
    # ... a weak password is refused without spending the code ...
    assert _activate(world, aunt, aunt["code"], "12345678") == (422, "password_too_common")
    # ... a good one is taken, once.
    assert _activate(world, aunt, aunt["code"].lower().replace("-", ""), "жаз келді, гүл ашылды") == (204, "")
    assert _activate(world, aunt, aunt["code"], "тағы бір құпия сөз") == (401, "code_spent")
    roles = world.client.get("/v1/me", headers=world.token("aigul@mail.kz", "жаз келді, гүл ашылды")).json()["roles"]
    assert roles == [{"role": "guardian", "scope": "s1"}]
    student = letters["+77055554433"]
    assert student["role"] == "student"
    assert world.client.post("/v1/schools/s2/accounts/activation", headers=head).status_code == 403


def test_a_code_dies_after_five_wrong_tries_and_when_it_expires(roster: World) -> None:
    world = roster
    letters = world.client.post("/v1/schools/s1/accounts/activation", headers=world.token("head@s1.kz")).json()
    aunt, nephew = sorted(letters["letters"], key=lambda letter: letter["login"], reverse=True)
    for _ in range(5):
        assert _activate(world, aunt, "AAAA-AAAA", "жаз келді, гүл ашылды") == (401, "code_wrong")
    assert _activate(world, aunt, aunt["code"], "жаз келді, гүл ашылды") == (401, "code_spent")
    with world.app.state.engine.begin() as conn:
        conn.execute(update(one_time_codes).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert _activate(world, nephew, nephew["code"], "жаз келді, гүл ашылды") == (401, "code_spent")


def test_an_administrator_resets_a_password_with_a_code_they_never_see_turned_into_a_password(world: World) -> None:
    head = world.token("head@s1.kz")
    father = world.ids["father"]
    issued = world.client.post(f"/v1/accounts/{father}/reset-code", headers=head).json()
    assert issued["link"].endswith("&p=reset") and "password" not in issued
    assert world.client.post(f"/v1/accounts/{world.ids['cook2']}/reset-code", headers=head).status_code == 403
    body = {"account_id": str(father), "code": issued["code"], "password": "новый пароль отца", "purpose": "reset"}
    assert world.client.post("/v1/auth/activate", json=body).status_code == 204
    old = world.client.post("/v1/auth/sign-in", json={"login": "father@mail.kz", "password": "correct horse battery"})
    assert old.status_code == 401
    assert world.client.get("/v1/me", headers=world.token("father@mail.kz", "новый пароль отца")).status_code == 200
    assert world.client.post(f"/v1/accounts/{father}/reset-code", headers=admin()).status_code == 200


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_a_forgotten_password_is_reset_with_a_code_sent_by_e_mail(world: World, smtp: tuple[int, _Inbox]) -> None:
    port, inbox = smtp
    settings = world.app.state.settings
    assert world.client.post("/v1/auth/forgot", json={"login": "father@mail.kz"}).json()["detail"]["code"] == (
        "mail_not_configured"
    )
    settings.smtp_host, settings.smtp_port, settings.smtp_sender = "127.0.0.1", port, "Mektep Gate <noreply@mektep.kz>"
    settings.public_url = "https://mektep.example.kz"  # mailed links name the deployment, never a request's Host
    ru = {"Accept-Language": "ru"}
    for login in ("father@mail.kz", "nobody@mail.kz", "+77012345678"):  # the mother's phone has no e-mail
        assert world.client.post("/v1/auth/forgot", json={"login": login}, headers=ru).status_code == 202
    deadline = time.monotonic() + 5
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [to for to, _ in inbox.messages] == [["father@mail.kz"]]  # one mail, to the one account with an e-mail
    mail = message_from_bytes(inbox.messages[0][1], policy=email_policy)
    assert mail["Subject"] == "Mektep Gate: код для сброса пароля" and mail["From"] == "Mektep Gate <noreply@mektep.kz>"
    text = mail.get_content()
    code = re.search(r"Ваш код: ([A-Z2-9]{4}-[A-Z2-9]{4})", text)
    link = re.search(r"(https://mektep\.example\.kz/app/activate\?a=\S+&p=reset)", text)
    assert code and link and code.group(1) in link.group(1)
    # Asking again at once sends nothing more: the first code is on its way.
    world.client.post("/v1/auth/forgot", json={"login": "father@mail.kz"})
    body = {
        "account_id": str(world.ids["father"]),
        "code": code.group(1),
        "password": "весна пришла",
        "purpose": "reset",
    }
    assert world.client.post("/v1/auth/activate", json=body).status_code == 204
    assert len(inbox.messages) == 1
    assert world.client.get("/v1/me", headers=world.token("father@mail.kz", "весна пришла")).status_code == 200


def test_a_guardian_turns_on_the_second_factor_of_a_child_under_16(world: World) -> None:
    from cloud_api.api.deps import SESSION_COOKIE
    from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
    from tests.cloud_api.school import CHILD, TEEN

    with world.app.state.engine.begin() as conn:
        for login, person in (("aliya@mail.kz", CHILD), ("petr@mail.kz", TEEN)):
            kid = create_account(
                conn, login, actor=SYSTEM, password="жаз келді, гүл ашылды", school_id="s1", person_id=world.ids[person]
            )
            grant_role(conn, kid.id, Role.STUDENT, "s1", actor=SYSTEM)
    body = {"login": "aliya@mail.kz", "password": "жаз келді, гүл ашылды"}
    assert world.client.post("/v1/auth/sign-in", json=body).json()["stage"] == "full"  # off by default under 16

    mother = world.token("+77012345678")["Authorization"].removeprefix("Bearer ")
    world.client.cookies.set(SESSION_COOKIE, mother)
    assert "Баланың жүйеге кіруі" in world.client.get(f"/app/children/{world.ids[CHILD]}").text  # the link
    page = world.client.get(f"/app/children/{world.ids[CHILD]}/sign-in")  # in the mother's language: Kazakh
    assert "Бала жүйеге кіргенде тек құпия сөз сұралады." in page.text
    turned = world.client.post(f"/app/children/{world.ids[CHILD]}/second-factor", data={"wanted": "true"})
    assert turned.status_code == 200 and "Бала жүйеге кіргенде қолданбадағы код сұралады." in turned.text
    # The child now sets up an app at the next sign-in.
    assert world.client.post("/v1/auth/sign-in", json=body).json()["stage"] == "enrol"
    # The teenager (16 this year) decides for themselves: the mother's switch is not there.
    teen = world.client.get(f"/app/children/{world.ids[TEEN]}/sign-in")
    assert "екінші фактор туралы өзі шешеді" in teen.text and "second-factor" not in teen.text
    refused = world.client.post(f"/app/children/{world.ids[TEEN]}/second-factor", data={"wanted": "true"})
    assert refused.status_code == 404
    with world.app.state.engine.connect() as conn:
        trail = [
            e["after"] for e in audit_entries(conn, "s1", "account") if "second_factor_wanted" in (e["after"] or {})
        ]
    assert trail == [{"second_factor_wanted": True}]


def test_the_office_also_mails_the_letter_to_those_whose_login_is_an_e_mail(
    roster: World, smtp: tuple[int, _Inbox]
) -> None:
    from cloud_api.api.deps import SESSION_COOKIE

    port, inbox = smtp
    settings = roster.app.state.settings
    settings.smtp_host, settings.smtp_port, settings.smtp_sender = "127.0.0.1", port, "noreply@mektep.kz"
    settings.public_url = "https://mektep.example.kz"
    head = roster.token("head@s1.kz")["Authorization"].removeprefix("Bearer ")
    roster.client.cookies.set(SESSION_COOKIE, head)
    page = roster.client.post("/office/schools/s1/letters", headers={"Accept-Language": "ru"})
    assert page.status_code == 200 and "Также отправлено на aigul@mail.kz." in page.text
    deadline = time.monotonic() + 5
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [to for to, _ in inbox.messages] == [["aigul@mail.kz"]]  # the student's login is a phone: printed only
    mail = message_from_bytes(inbox.messages[0][1], policy=email_policy)
    code = re.search(r"Ваш код: ([A-Z2-9]{4}-[A-Z2-9]{4})", mail.get_content())
    assert code is not None and code.group(1) in page.text  # the same code as on the printed letter
