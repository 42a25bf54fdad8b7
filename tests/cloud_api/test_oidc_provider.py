"""Mektep as the students' OpenID Connect provider (§33-1.13), without a browser: consent, codes, PKCE,
pairwise subjects, claims limited to what was registered and agreed (never the IIN), key rotation,
sign-out, and a guardian's withdrawal."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from cloud_api.integrations.clients import revoke_client
from cloud_api.integrations.oidc.keys import KEEP_RETIRED, jwks, rotate_signing_key
from cloud_api.services.audit import audit_entries
from cloud_api.settings import CloudSettings
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.oidc_world import (
    EVERY_SCOPE,
    Platform,
    add_platform,
    add_students,
    as_student,
    authorize_url,
    exchange,
    pkce,
    query_of,
    sign_in_to,
    verified,
)
from tests.cloud_api.school import CHILD, MOTHER, S2_CHILD, TEEN, World

ON_CITUS = [
    "test_a_student_agrees_once_and_the_platform_gets_only_what_was_agreed",
    "test_a_guardian_withdraws_and_the_child_is_refused_until_allowed_again",
]
IINS = (CHILD, TEEN, S2_CHILD, MOTHER)


def _form_of(page: str) -> dict[str, str]:
    return {k: v for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def _consent(client: TestClient, url: str, *, claims: list[str] | None, decision: str = "allow") -> str:
    """Open the consent page at ``url``, answer it; the redirect the platform receives."""
    page = client.get(url)
    assert page.status_code == 200 and 'name="decision"' in page.text, page.text
    form: dict[str, object] = {**_form_of(page.text), "decision": decision}
    if claims is not None:
        form["claim"] = claims
    answer = client.post("/oidc/authorize", data=form)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> CloudSettings:
    """The conftest's settings, writing security events to a file."""
    return CloudSettings(
        database_url=database_url, admin_token=ADMIN, push_workers=0, security_log=tmp_path / "security.jsonl"
    )


@pytest.fixture
def students(world: World) -> World:
    world.client.follow_redirects = False
    add_students(world)
    return world


def test_a_student_agrees_once_and_the_platform_gets_only_what_was_agreed(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb", claims=("name", "school", "class", "locale"))
    verifier, challenge = pkce()
    url = authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256", ui_locales="ru")
    # Signed out: to the parent app's sign-in, and back here once signed in.
    r = client.get(url)
    assert r.status_code == 303 and r.headers["location"] == "/app/sign-in?lang=ru"
    assert "Войдите, чтобы перейти на платформу Opiq." in client.get("/app/sign-in?lang=ru").text
    signed = client.post(
        "/app/sign-in", data={"login": "aliya@mail.kz", "password": "жаз келді, гүл ашылды", "lang": "ru"}
    )
    assert signed.status_code == 303 and signed.headers["location"] == url
    # The consent page lists what this platform asked for and was registered for: not the role.
    page = client.get(url)
    assert "Вход на платформу Opiq" in page.text and "ИИН" in page.text
    offered = re.findall(r'name="claim" value="(\w+)"', page.text)
    assert offered == ["name", "school", "class", "locale"]  # asked "role" too: not registered for it
    location = _consent(client, url, claims=["name", "class"])  # the school and the language unticked
    answer = query_of(location)
    assert location.startswith(opiq.redirect_uri + "?") and answer["state"] in url
    tokens = exchange(client, opiq, answer["code"], verifier)
    assert tokens.status_code == 200 and tokens.headers["cache-control"] == "no-store"
    claims = verified(client, tokens.json()["id_token"], opiq)
    assert claims["name"] == "Әлия Нұрланова" and claims["class"] == "3Б" and "school" not in claims
    assert claims["nonce"] in url and "role" not in claims and "locale" not in claims
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}).json()
    assert info == {"sub": claims["sub"], "name": "Әлия Нұрланова", "class": "3Б"}
    # The code works once.
    again = exchange(client, opiq, answer["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Remembered: the next sign-in asks nothing, with the same subject (client_secret_post this time).
    verifier2, challenge2 = pkce()
    r = client.get(authorize_url(opiq, code_challenge=challenge2, code_challenge_method="S256"))
    assert r.status_code == 302
    second = exchange(client, opiq, query_of(r.headers["location"])["code"], verifier2, basic=False)
    assert verified(client, second.json()["id_token"], opiq)["sub"] == claims["sub"]
    with students.app.state.engine.connect() as conn:
        journal = audit_entries(conn, "s1", "oidc_grant")
    assert journal[0]["after"] == {"client_id": opiq.client_id, "claims": ["class", "name"]}


def test_no_iin_whatever_the_platform_asks_and_subjects_are_pairwise(students: World) -> None:
    client = students.client
    greedy = add_platform(students, "Greedy", "https://greedy.example/cb")
    other = add_platform(students, "Bilimland", "https://bilimland.example/back")
    as_student(client, "petr@mail.kz")
    verifier, challenge = pkce()
    url = authorize_url(
        greedy,
        scope=EVERY_SCOPE,
        code_challenge=challenge,
        code_challenge_method="S256",
        claims=json.dumps({"id_token": {"iin": {"essential": True}, "email": None, "phone_number": None}}),
    )
    code = query_of(_consent(client, url, claims=["name", "school", "class", "role", "locale", "iin", "email"]))["code"]
    tokens = exchange(client, greedy, code, verifier)
    body = tokens.text
    claims = verified(client, tokens.json()["id_token"], greedy)
    assert set(claims) - {"iss", "aud", "iat", "exp", "auth_time", "nonce", "at_hash", "sub"} == {
        "name",
        "school",
        "class",
        "role",
        "locale",
    }
    assert claims["role"] == "student" and claims["locale"] == "ru"
    access = tokens.json()["access_token"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"}).text
    token_text = json.dumps(
        jwt.decode(tokens.json()["id_token"], KeySet.import_key_set(client.get("/oidc/jwks").json())).claims,
        ensure_ascii=False,
    )
    for iin_ in IINS:
        assert iin_ not in body and iin_ not in info and iin_ not in token_text
    assert "email" not in claims and "phone_number" not in claims
    assert tokens.json()["scope"] == "openid profile name school class role locale"
    # Another platform knows the same student by an unrelated subject; each keeps its own.
    _, challenge2 = pkce()
    verifier2, challenge2 = pkce()
    url2 = authorize_url(other, code_challenge=challenge2, code_challenge_method="S256")
    code2 = query_of(_consent(client, url2, claims=["name"]))["code"]
    sub2 = verified(client, exchange(client, other, code2, verifier2).json()["id_token"], other)["sub"]
    assert sub2 != claims["sub"] and len(sub2) == len(claims["sub"]) == 43
    assert (
        sign_in_to(client, other)["sub"] == sub2
        and sign_in_to(client, greedy, scope=EVERY_SCOPE)["sub"] == claims["sub"]
    )


def test_pkce_with_s256_is_required_and_the_verifier_must_match(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    for extra in ({}, {"code_challenge": "a" * 43, "code_challenge_method": "plain"}, {"code_challenge": "a" * 43}):
        r = client.get(authorize_url(opiq, **extra))
        assert r.status_code == 302 and query_of(r.headers["location"])["error"] == "invalid_request", extra
    verifier, challenge = pkce()
    code = query_of(
        _consent(client, authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256"), claims=None)
    )["code"]
    wrong = exchange(client, opiq, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # A refused attempt spent the code: the right verifier comes too late.
    assert exchange(client, opiq, code, verifier).status_code == 400
    # A wrong secret is refused too.
    _, challenge = pkce()
    r = client.get(authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256"))
    bad = Platform(opiq.client_id, "not-the-secret", opiq.redirect_uri)
    assert exchange(client, bad, query_of(r.headers["location"])["code"], verifier).status_code == 401
    # Each refusal is a security event naming the platform, never the code or the secret.
    log = students.app.state.settings.security_log.read_text()
    refused = [json.loads(line) for line in log.splitlines() if '"sso_token_refused"' in line]
    assert [(e["target"], e["details"]["error"]) for e in refused] == [
        (opiq.client_id, "invalid_grant"),
        (opiq.client_id, "invalid_grant"),
        (opiq.client_id, "invalid_client"),
    ]
    assert opiq.secret not in log and "not-the-secret" not in log and code not in log


def test_a_wrong_redirect_an_unknown_or_revoked_client_is_a_page_never_a_redirect(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    _, challenge = pkce()
    pk = {"code_challenge": challenge, "code_challenge_method": "S256", "ui_locales": "kk"}
    elsewhere = Platform(opiq.client_id, opiq.secret, "https://evil.example/cb")
    prefixed = Platform(opiq.client_id, opiq.secret, "https://opiq.example/cb/../steal")
    nobody = Platform("mk_nobody", "x", opiq.redirect_uri)
    for platform in (elsewhere, prefixed, nobody):
        r = client.get(authorize_url(platform, **pk))
        assert r.status_code == 400 and "location" not in r.headers
        assert "Бұл платформаның жүйеге кіру сұрауы дұрыс емес" in r.text
    with students.app.state.engine.begin() as conn:
        revoke_client(conn, opiq.client_id, actor="account:admin", now=datetime.now(UTC))
    r = client.get(authorize_url(opiq, **pk))
    assert r.status_code == 400 and "location" not in r.headers


def test_only_students_of_schools_the_platform_serves(students: World) -> None:
    client = students.client
    only_s2 = add_platform(students, "Region 2 library", "https://lib.example/cb", school_ids=("s2",))
    _, challenge = pkce()
    url = authorize_url(only_s2, code_challenge=challenge, code_challenge_method="S256", ui_locales="en")
    as_student(client, "aliya@mail.kz")  # of s1
    r = client.get(url)
    assert r.status_code == 403 and "Only students of the schools this platform serves" in r.text
    client.cookies.set("mektep_session", students.token("8 (701) 234-56-78")["Authorization"].removeprefix("Bearer "))
    assert client.get(url).status_code == 403  # a guardian is not a student
    as_student(client, "alina@mail.kz")  # of s2
    assert client.get(url).status_code == 200


def test_the_student_says_no_and_the_platform_hears_access_denied(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    _, challenge = pkce()
    location = _consent(
        client,
        authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256"),
        claims=None,
        decision="deny",
    )
    assert query_of(location)["error"] == "access_denied"
    assert client.get("/oidc/platforms").text.count("<h2>") == 0


def test_a_token_signed_before_a_rotation_still_verifies_and_new_ones_use_the_new_key(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    verifier, challenge = pkce()
    code = query_of(
        _consent(client, authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256"), claims=["name"])
    )["code"]
    before = exchange(client, opiq, code, verifier).json()["id_token"]
    old_kid = json.loads(__import__("base64").urlsafe_b64decode(before.split(".")[0] + "==="))["kid"]
    now = datetime.now(UTC)
    with students.app.state.engine.begin() as conn:
        new_kid = rotate_signing_key(conn, now)
    published = [k["kid"] for k in client.get("/oidc/jwks").json()["keys"]]
    assert published == [new_kid, old_kid]
    assert verified(client, before, opiq)["name"] == "Әлия Нұрланова"  # the old token still verifies
    verifier, challenge = pkce()
    r = client.get(authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256"))
    after = exchange(client, opiq, query_of(r.headers["location"])["code"], verifier).json()["id_token"]
    assert json.loads(__import__("base64").urlsafe_b64decode(after.split(".")[0] + "==="))["kid"] == new_kid
    with students.app.state.engine.connect() as conn:  # once every token it signed has expired, it leaves
        assert [k["kid"] for k in jwks(conn, now + KEEP_RETIRED + timedelta(seconds=1))["keys"]] == [new_kid]
        stored = conn.exec_driver_sql("SELECT private_pem FROM oidc_keys").scalars().all()
    assert all(pem.startswith("e1:") for pem in stored)  # encrypted at rest


def test_rp_initiated_sign_out_goes_back_only_to_a_registered_address(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    verifier, challenge = pkce()
    url = authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256")
    code = query_of(_consent(client, url, claims=["name"]))["code"]
    id_token = exchange(client, opiq, code, verifier).json()["id_token"]
    # Without a hint: a confirmation page (another site cannot sign the student out unseen).
    assert 'action="/oidc/end-session"' in client.get("/oidc/end-session").text
    bad = client.get(
        "/oidc/end-session", params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"}
    )
    assert "location" not in bad.headers
    as_student(client, "aliya@mail.kz")
    out = client.get(
        "/oidc/end-session",
        params={"id_token_hint": id_token, "post_logout_redirect_uri": opiq.redirect_uri, "state": "bye"},
    )
    assert out.status_code == 302 and out.headers["location"] == f"{opiq.redirect_uri}?state=bye"
    _, challenge = pkce()
    assert client.get(authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256")).status_code == 303


def test_a_guardian_withdraws_and_the_child_is_refused_until_allowed_again(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    sign_in_url = lambda: authorize_url(opiq, code_challenge=pkce()[1], code_challenge_method="S256")  # noqa: E731
    _consent(client, sign_in_url(), claims=["name", "class"])
    assert "Opiq" in client.get("/oidc/platforms").text
    mother = students.token("8 (701) 234-56-78")["Authorization"].removeprefix("Bearer ")
    client.cookies.set("mektep_session", mother)
    page = client.get(f"/app/children/{students.ids[CHILD]}/sign-in").text
    assert "Opiq" in page and "Аты-жөні, Сынып" in page
    done = client.post(f"/app/children/{students.ids[CHILD]}/platforms/{opiq.client_id}", data={"allowed": "false"})
    assert done.status_code == 303
    # The teenager's page has no platforms section (16 or older: their own decision).
    assert "platforms/" not in client.get(f"/app/children/{students.ids[TEEN]}/sign-in").text
    as_student(client, "aliya@mail.kz")
    refused = client.get(sign_in_url())
    assert refused.status_code == 403 and "Ата-анаң" in refused.text
    client.cookies.set("mektep_session", mother)
    client.post(f"/app/children/{students.ids[CHILD]}/platforms/{opiq.client_id}", data={"allowed": "true"})
    as_student(client, "aliya@mail.kz")
    assert 'name="decision"' in client.get(sign_in_url()).text  # asked again
    with students.app.state.engine.connect() as conn:
        trail = [e["after"] for e in audit_entries(conn, "s1", "oidc_grant")]
    assert trail[1] == {"client_id": opiq.client_id, "withdrawn": True, "by_guardian": True}
    assert trail[2] == {"client_id": opiq.client_id, "allowed_again": True}


def test_the_cli_rotates_the_signing_key(tmp_path: object) -> None:
    from typer.testing import CliRunner

    from cloud_api.cli import app as cloud_cli
    from cloud_api.db.engine import make_engine

    url = f"sqlite:///{tmp_path}/cloud.db"
    runner = CliRunner()
    first = runner.invoke(cloud_cli, ["rotate-oidc-key", "--database-url", url])
    second = runner.invoke(cloud_cli, ["rotate-oidc-key", "--database-url", url])
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    engine = make_engine(url)
    with engine.connect() as conn:
        published = [k["kid"] for k in jwks(conn, datetime.now(UTC))["keys"]]
    engine.dispose()
    assert len(published) == 2 and published[0] in second.output and published[1] in first.output


def test_a_student_withdraws_their_own_consent_and_the_platform_learns_nothing_more(students: World) -> None:
    from cloud_api.db.schema import oidc_codes, oidc_tokens
    from cloud_api.integrations.oidc.housekeeping import prune_expired
    from tests.cloud_api.helpers import count

    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "petr@mail.kz")
    verifier, challenge = pkce()
    url = authorize_url(opiq, code_challenge=challenge, code_challenge_method="S256", ui_locales="en")
    access = exchange(client, opiq, query_of(_consent(client, url, claims=["class"]))["code"], verifier).json()
    mine = client.get("/oidc/platforms").text
    assert "Opiq" in mine and "Она узнаёт: Твой класс" in mine  # in his language
    assert client.post(f"/oidc/platforms/{opiq.client_id}/withdraw").status_code == 303
    assert "Opiq" not in client.get("/oidc/platforms").text
    bearer = {"Authorization": f"Bearer {access['access_token']}"}
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 401  # withdrawn since
    assert 'name="decision"' in client.get(url).text  # asked again: not refused (no guardian withdrew it)
    assert count(students.app, oidc_codes) == 1 and count(students.app, oidc_tokens) == 1
    with students.app.state.engine.begin() as conn:
        assert prune_expired(conn, datetime.now(UTC) + timedelta(minutes=30)) == 0
        assert prune_expired(conn, datetime.now(UTC) + timedelta(hours=2)) == 2


def test_on_a_shared_computer_the_next_student_signs_in_as_themselves(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    url = authorize_url(opiq, code_challenge=pkce()[1], code_challenge_method="S256", ui_locales="ru")
    page = client.get(url).text
    assert "Вход выполнен: Әлия Нұрланова." in page
    switched = client.post("/oidc/authorize", data={**_form_of(page), "decision": "switch"})
    assert switched.status_code == 303 and switched.headers["location"] == "/app/sign-in?lang=ru"
    assert client.get(url).status_code == 303  # Aliya's session has ended
    signed = client.post("/app/sign-in", data={"login": "petr@mail.kz", "password": "жаз келді, гүл ашылды"})
    back = signed.headers["location"]
    assert back.startswith("/oidc/authorize?") and "Вход выполнен: Пётр Иванов." in client.get(back).text


def test_prompt_none_answers_the_platform_without_a_page(students: World) -> None:
    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")

    def silent() -> dict[str, str]:
        r = client.get(authorize_url(opiq, code_challenge=pkce()[1], code_challenge_method="S256", prompt="none"))
        assert r.status_code == 302 and r.headers["location"].startswith(opiq.redirect_uri)
        return query_of(r.headers["location"])

    assert silent()["error"] == "login_required"
    as_student(client, "aliya@mail.kz")
    assert silent()["error"] == "consent_required"
    _consent(client, authorize_url(opiq, code_challenge=pkce()[1], code_challenge_method="S256"), claims=["name"])
    assert "code" in silent()


def test_max_age_asks_for_a_sign_in_that_recent(students: World) -> None:
    from sqlalchemy import update

    from cloud_api.db.schema import sessions

    client = students.client
    opiq = add_platform(students, "Opiq", "https://opiq.example/cb")
    as_student(client, "aliya@mail.kz")
    _consent(client, authorize_url(opiq, code_challenge=pkce()[1], code_challenge_method="S256"), claims=["name"])
    with students.app.state.engine.begin() as conn:  # she signed in an hour ago
        conn.execute(update(sessions).values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    recent = authorize_url(opiq, code_challenge=pkce()[1], code_challenge_method="S256", max_age="600")
    assert client.get(recent).headers["location"].startswith("/app/sign-in")
    relaxed = authorize_url(opiq, code_challenge=pkce()[1], code_challenge_method="S256", max_age="7200")
    assert client.get(relaxed).headers["location"].startswith(opiq.redirect_uri)
