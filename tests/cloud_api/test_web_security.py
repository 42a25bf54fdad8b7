"""What a browser is told and what another site can make it do: headers, Origin, page messages, the admin token."""

from __future__ import annotations

import re

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.core.data_keys import make_data_key
from cloud_api.services.accounts import GLOBAL_SCOPE
from cloud_api.services.audit import audit_entries
from tests.cloud_api.helpers import ADMIN, admin
from tests.cloud_api.school import CHILD, World

# Headers, origins and tokens are the same on every database: the cluster adds nothing to them.
ON_CITUS = ()

EVIL = {"Origin": "https://evil.example"}


def _cookie(world: World, login: str) -> str:
    token = world.token(login)["Authorization"].removeprefix("Bearer ")
    world.client.cookies.set(SESSION_COOKIE, token)
    return token


# -- hole 4: security headers ----------------------------------------------------------------------


def test_every_page_and_answer_carries_the_security_headers(world: World) -> None:
    for path in ("/app/sign-in", "/v1/me", "/healthz", "/docs", "/app/static/app.js"):
        r = world.client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "same-origin", path
        assert r.headers["x-frame-options"] == "DENY", path
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, path
        script_src = re.search(r"script-src ([^;]*)", csp)
        assert script_src is not None and "'unsafe-inline'" not in script_src.group(1), path
        assert "strict-transport-security" not in r.headers  # plain HTTP: HSTS means nothing there


def test_an_inline_script_runs_only_with_the_requests_nonce(world: World) -> None:
    docs = world.client.get("/docs")
    nonce = re.search(r"'nonce-([^']+)'", docs.headers["content-security-policy"])
    assert nonce is not None
    inline = re.findall(r"<script([^>]*)>", docs.text)
    assert inline and all(f'nonce="{nonce.group(1)}"' in attrs for attrs in inline)
    again = world.client.get("/docs").headers["content-security-policy"]
    assert nonce.group(1) not in again  # a fresh nonce each time: an old page's nonce runs nothing


def test_hsts_over_tls(world: World) -> None:
    r = world.client.get("https://testserver/healthz")
    assert r.headers["strict-transport-security"].startswith("max-age=31536000")


# -- hole 3: a request another site makes with the cookie ------------------------------------------


def test_a_cross_site_request_with_the_cookie_changes_nothing(world: World) -> None:
    _cookie(world, "head@s1.kz")
    card = {"credential": "04AABBCCDD", "kind": "mifare"}
    blocked = world.client.post(f"/v1/schools/s1/people/{world.ids[CHILD]}/cards", json=card, headers=EVIL)
    assert (blocked.status_code, blocked.json()["detail"]["code"]) == (403, "cross_site_form")
    roster = world.client.post(
        "/v1/schools/s1/roster/import",
        files={"file": ("r.csv", b"iin,last_name\n", "text/csv")},
        headers=EVIL,
    )
    assert (roster.status_code, roster.json()["detail"]["code"]) == (403, "cross_site_form")
    # No Origin and no Referer at all: a browser always says where a POST comes from, so that is refused too.
    del world.client.headers["Origin"]
    bare = world.client.post("/v1/auth/sign-out")
    assert bare.status_code == 403
    # The same session still works from our own pages, and a read needs no Origin.
    assert world.client.get("/v1/me").status_code == 200
    assert world.client.post("/v1/auth/sign-out", headers={"Origin": "http://testserver"}).status_code == 204


def test_a_bearer_token_needs_no_origin(world: World) -> None:
    headers = world.token("head@s1.kz")
    del world.client.headers["Origin"]
    assert world.client.post("/v1/auth/sign-out", headers={**headers, **EVIL}).status_code == 204


# -- hole 6: words in the address -------------------------------------------------------------------


def test_the_sign_in_page_shows_only_its_own_messages(world: World) -> None:
    lure = "Your account is blocked. Call +7 700 000 00 00 and tell the code"
    page = world.client.get("/app/sign-in", params={"failed": lure, "lang": "en"})
    assert page.status_code == 200 and "blocked" not in page.text and 'role="alert"' not in page.text
    known = world.client.get("/app/sign-in", params={"failed": "sign_in_failed", "lang": "ru"})
    assert "Неверный логин или пароль" in known.text


def test_the_childs_page_shows_only_its_own_messages(world: World) -> None:
    _cookie(world, "+77012345678")
    lure = "Pay 5000 tenge to card 4400 0000 0000 0000"
    page = world.client.get(f"/app/children/{world.ids[CHILD]}", params={"failed": lure})
    assert page.status_code == 200 and "4400" not in page.text


# -- hole 7: the admin token ------------------------------------------------------------------------


def test_the_admin_token_is_not_a_session_cookie(world: World) -> None:
    world.client.cookies.set(SESSION_COOKIE, ADMIN)
    assert world.client.get("/v1/schools/s1/sign-in-failures").status_code == 401
    assert world.client.get("/app/", follow_redirects=False).status_code in (302, 303, 307)


def test_every_use_of_the_admin_token_is_journalled(world: World) -> None:
    assert world.client.get("/v1/schools/s1/sign-in-failures", headers=admin()).status_code == 200
    assert world.client.get("/v1/schools/s1/sign-in-failures", headers=admin("wrong-token")).status_code == 401
    with world.app.state.engine.connect() as conn:
        uses = audit_entries(conn, GLOBAL_SCOPE, "admin_token")
    assert [(u["action"], u["entity_id"], u["actor"]) for u in uses] == [
        ("use", "GET /v1/schools/s1/sign-in-failures", "system")
    ]
    assert uses[0]["after"]["ip"]


def test_the_admin_token_is_turned_off_once_a_deployment_admin_with_a_second_factor_exists(
    database_url: str, tmp_path: object
) -> None:
    import pytest
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from cloud_api.app import create_app
    from cloud_api.cli import app as cloud_cli
    from cloud_api.settings import CloudSettings
    from tests.cloud_api.helpers import sign_in

    off = CloudSettings(database_url=database_url, admin_token=ADMIN, admin_token_enabled=False, push_workers=0)
    with (
        pytest.raises(RuntimeError, match="deployment administrator with a second factor"),
        TestClient(create_app(off)),
    ):
        pass  # nobody could do what only the system can: the cloud does not start
    made = CliRunner().invoke(
        cloud_cli,
        ["admin-add", "it@mektep.kz", "--deployment", "--password-env", "PW", "--database-url", database_url],
        env={"PW": "correct horse battery"},
    )
    assert made.exit_code == 0 and "it@mektep.kz" in made.output, made.output
    on = CloudSettings(database_url=database_url, admin_token=ADMIN, push_workers=0)
    with TestClient(create_app(on)) as client:
        client.headers["Origin"] = "http://testserver"
        it = sign_in(client, "it@mektep.kz", "correct horse battery")  # sets up the authenticator
        assert client.get("/v1/sign-in-failures", headers=it).status_code == 200
    with TestClient(create_app(off)) as client:
        assert client.get("/v1/sign-in-failures", headers=admin()).status_code == 401
    production = CloudSettings(
        database_url=database_url,
        environment="production",
        admin_token_enabled=False,
        credential_key="k" * 32,
        data_key=make_data_key(),
    )
    assert not production.admin_token.get_secret_value()  # no admin token needed in production any more
