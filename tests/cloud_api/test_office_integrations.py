"""Outside systems in the office: a region registers one (errors beside their fields), sees its secret
once, rotates it with an overlap and revokes it after checking; it sees only its region's systems; a
school's administrator sees who may read the school's data."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.db.schema import schools
from cloud_api.integrations.clients import create_client
from cloud_api.integrations.oidc.grants import record_grant
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from tests.cloud_api.helpers import sign_in

PASSWORD = "correct horse battery"
STAFF = {
    "akimat@almaty.kz": [(Role.REGION, "almaty")],
    "it@almaty.kz": [(Role.REGION_IT, "almaty")],
    "it@mektep.kz": [(Role.DEPLOYMENT_ADMIN, None)],
    "head@s1.kz": [(Role.SCHOOL_ADMIN, "s1")],
}
REGISTRY = "/office/regions/almaty/integrations"


@pytest.fixture
def office(client: TestClient) -> Engine:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            insert(schools),
            [
                {"school_id": "s1", "name": "Школа № 1", "region_id": "almaty"},
                {"school_id": "s2", "name": "Школа № 2", "region_id": "almaty"},
                {"school_id": "s3", "name": "Абай мектебі", "region_id": "abay"},
            ],
        )
        for login, grants in STAFF.items():
            account = create_account(conn, login, actor=SYSTEM, password=PASSWORD)
            for role, scope in grants:
                grant_role(conn, account.id, role, scope, actor=SYSTEM)
    return engine


def as_(client: TestClient, login: str) -> TestClient:
    token = sign_in(client, login, PASSWORD)["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, token)
    client.headers["Accept-Language"] = "ru"
    return client


def shown(page: str, element: str) -> str:
    found = re.search(rf'id="{element}">([^<]+)<', page)
    assert found, page
    return found.group(1)


def a_token(client: TestClient, client_id: str, secret: str) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post(
        "/v1/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    ).status_code


def test_a_region_registers_a_system_sees_its_secret_once_rotates_and_revokes_it(
    office: Engine, client: TestClient
) -> None:
    c = as_(client, "akimat@almaty.kz")
    listed = c.get(REGISTRY)
    assert listed.status_code == 200 and "Внешние системы" in listed.text and "Пока не зарегистрировано" in listed.text
    form = c.get(f"{REGISTRY}/new").text
    assert "Видеть, когда ученики приходят в школу и уходят" in form and "ИИН не передаётся никогда" in form
    wrong = c.post(
        f"{REGISTRY}/new",
        data={
            "name": "",
            "school_ids": "s3",
            "redirect_uris": "http://diary.example/cb",
            "initiate_login_uri": "javascript:alert(1)",
            "rate_per_minute": "600",
        },
    )
    assert wrong.status_code == 422
    assert 'id="initiate_login_uri-error"' in wrong.text and "Адрес начала входа должен" in wrong.text
    assert 'href="#name"' in wrong.text and 'id="name-error"' in wrong.text  # the summary, and beside the field
    assert 'id="redirect_uris-error"' in wrong.text and "https://" in wrong.text
    made = c.post(
        f"{REGISTRY}/new",
        data={
            "name": "Kundelik",
            "scopes": ["attendance:read", "meals:read"],
            "school_ids": "s1",
            "rate_per_minute": "120",
        },
    )
    assert made.status_code == 200 and "показывается только один раз" in made.text
    assert made.headers["cache-control"] == "no-store"
    client_id, secret = shown(made.text, "client-id"), shown(made.text, "secret")
    assert a_token(c, client_id, secret) == 200
    detail = c.get(f"{REGISTRY}/{client_id}").text
    assert secret not in detail and "Kundelik" in detail and "Школа № 1" in detail
    assert "новый ключ доступа" in detail  # its token request, journalled
    assert 'id="webhooks"' in detail and 'id="students"' in detail
    # It reads data, so events can be sent to it: the page of its subscriptions is one click away.
    assert f'href="/office/integrations/{client_id}/webhooks"' in detail
    assert c.get(f"/office/integrations/{client_id}/webhooks").status_code == 200
    assert "не выполняет вход учеников" in detail  # no return address: no student signs in to it
    # A platform's sign-in start address, where a student's page of digital resources sends them.
    platform = c.post(
        f"{REGISTRY}/new",
        data={
            "name": "Opiq",
            "redirect_uris": "https://opiq.example/cb",
            "initiate_login_uri": "https://opiq.example/start",
            "claims": ["name"],
            "rate_per_minute": "600",
        },
    )
    opiq = c.get(f"{REGISTRY}/{shown(platform.text, 'client-id')}").text
    assert "Адрес начала входа: <code>https://opiq.example/start</code>" in opiq
    assert "Проверьте" in c.get(f"{REGISTRY}/{client_id}/rotate").text
    rotated = c.post(f"{REGISTRY}/{client_id}/rotate")
    new_secret = shown(rotated.text, "secret")
    assert new_secret != secret and "Прежний секретный ключ работает до" in rotated.text
    assert a_token(c, client_id, secret) == 200 and a_token(c, client_id, new_secret) == 200
    check = c.get(f"{REGISTRY}/{client_id}/revoke").text
    assert "Проверьте, прежде чем подтвердить" in check and "Это нельзя отменить" in check
    revoked = c.post(f"{REGISTRY}/{client_id}/revoke", follow_redirects=False)
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("?done=integration_revoked")
    page = c.get(revoked.headers["location"]).text
    assert "Система отключена" in page and "Отключить систему" not in page
    assert a_token(c, client_id, new_secret) == 401
    assert "отключена" in c.get(REGISTRY).text


def test_each_desk_sees_its_own_systems_and_a_school_sees_who_reads_it(office: Engine, client: TestClient) -> None:
    c = as_(client, "it@mektep.kz")
    assert "Внешние системы" in c.get("/office/deployment/integrations").text
    abay = c.post(
        "/office/deployment/integrations/new",
        data={"name": "Abay library", "region": "abay", "scopes": ["roster:read"], "rate_per_minute": "60"},
    )
    abay_id = shown(abay.text, "client-id")
    almaty = c.post(
        "/office/deployment/integrations/new",
        data={"name": "Almaty diary", "region": "almaty", "scopes": ["attendance:read"], "rate_per_minute": "60"},
    )
    assert almaty.status_code == 200
    c = as_(client, "akimat@almaty.kz")
    listed = c.get(REGISTRY).text
    assert "Almaty diary" in listed and "Abay library" not in listed
    assert c.get(f"{REGISTRY}/{abay_id}").status_code == 404
    assert as_(client, "it@almaty.kz").get(REGISTRY).status_code == 403  # the region's IT does not register systems
    school = as_(client, "head@s1.kz").get("/office/schools/s1/integrations").text
    assert "Almaty diary" in school and "Abay library" not in school
    assert "Видеть, когда ученики приходят в школу и уходят" in school


def test_a_platform_shows_how_many_students_agreed_to_share(office: Engine, client: TestClient) -> None:
    with office.begin() as conn:
        platform, _ = create_client(
            conn,
            name="Opiq",
            actor="system",
            now=datetime.now(UTC),
            redirect_uris=["https://opiq.example/cb"],
            claims=["name", "class"],
            school_ids=["s1"],
            region_id="almaty",
        )
    c = as_(client, "akimat@almaty.kz")
    assert "Пока ни один ученик в неё не входил" in c.get(f"{REGISTRY}/{platform.client_id}").text
    with office.begin() as conn:
        for _ in range(3):
            record_grant(
                conn,
                uuid4(),
                platform.client_id,
                ["name"],
                offered=["name", "class"],
                school_id="s1",
                now=datetime.now(UTC),
            )
    detail = c.get(f"{REGISTRY}/{platform.client_id}").text
    assert "3 ученика согласились передавать ей свои сведения" in detail
    assert f"/office/integrations/{platform.client_id}/webhooks" not in detail  # it reads nothing: no events
