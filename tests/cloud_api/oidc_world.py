"""Students with accounts and platforms registered for single sign-on, for the provider's tests."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.integrations.clients import create_client
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.schools import place_school
from tests.cloud_api.school import CHILD, S2_CHILD, TEEN, World

STUDENT_PASSWORD = "жаз келді, гүл ашылды"
STUDENTS = {"aliya@mail.kz": ("s1", CHILD), "petr@mail.kz": ("s1", TEEN), "alina@mail.kz": ("s2", S2_CHILD)}
EVERY_SCOPE = "openid profile email phone address iin name school class role locale offline_access"


@dataclass(frozen=True)
class Platform:
    """A registered platform: its id, its secret and where its codes go."""

    client_id: str
    secret: str
    redirect_uri: str


def add_students(world: World) -> dict[str, Any]:
    """An account with the student role for each of :data:`STUDENTS`; their ids by login."""
    made = {}
    with world.app.state.engine.begin() as conn:
        place_school(conn, "s1", "№1 мектеп-гимназия", "almaty")
        place_school(conn, "s2", "№2 мектеп", "astana")
        for login, (school, person) in STUDENTS.items():
            account = create_account(
                conn, login, actor=SYSTEM, password=STUDENT_PASSWORD, school_id=school, person_id=world.ids[person]
            )
            grant_role(conn, account.id, Role.STUDENT, school, actor=SYSTEM)
            made[login] = account.id
    return made


def add_platform(
    world: World,
    name: str,
    redirect_uri: str,
    *,
    claims: tuple[str, ...] = ("name", "school", "class", "role", "locale"),
    school_ids: tuple[str, ...] = (),
    region_id: str | None = None,
) -> Platform:
    """Register a platform for sign-in, as the office would."""
    with world.app.state.engine.begin() as conn:
        client, secret = create_client(
            conn,
            name=name,
            actor="account:admin",
            now=__import__("datetime").datetime.now(__import__("datetime").UTC),
            redirect_uris=[redirect_uri],
            claims=claims,
            region_id=region_id,
            school_ids=school_ids,
        )
    return Platform(client.client_id, secret, redirect_uri)


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def as_student(client: TestClient, login: str) -> None:
    """Sign ``login`` in over the API and give the session to the test client as the browser's cookie."""
    r = client.post("/v1/auth/sign-in", json={"login": login, "password": STUDENT_PASSWORD})
    assert r.status_code == 200 and r.json()["stage"] == "full", r.text
    client.cookies.set(SESSION_COOKIE, r.json()["token"])


def authorize_url(platform: Platform, *, scope: str = "openid profile school class role", **extra: str) -> str:
    """The address a platform sends the browser to."""
    params = {
        "response_type": "code",
        "client_id": platform.client_id,
        "redirect_uri": platform.redirect_uri,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        **extra,
    }
    return "/oidc/authorize?" + urlencode(params)


def query_of(location: str) -> dict[str, str]:
    """A redirect's query parameters."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(client: TestClient, platform: Platform, code: str, verifier: str, *, basic: bool = True) -> Any:
    """The token request, authenticated by the secret in the header (or in the form)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": platform.redirect_uri}
    form["code_verifier"] = verifier
    if basic:
        return client.post("/oidc/token", data=form, auth=(platform.client_id, platform.secret))
    return client.post("/oidc/token", data={**form, "client_id": platform.client_id, "client_secret": platform.secret})


def verified(client: TestClient, id_token: str, platform: Platform) -> dict[str, Any]:
    """The ID token's claims once its signature (by the JWKS), issuer and audience are checked."""
    keys = KeySet.import_key_set(client.get("/oidc/jwks").json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    issuer = client.get("/oidc/.well-known/openid-configuration").json()["issuer"]
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": platform.client_id}
    ).validate(token.claims)
    return dict(token.claims)


def sign_in_to(
    client: TestClient, platform: Platform, *, scope: str = "openid profile school class role"
) -> dict[str, Any]:
    """A whole sign-in of the signed-in student (consent already given): the verified ID token's claims."""
    verifier, challenge = pkce()
    r = client.get(authorize_url(platform, scope=scope, code_challenge=challenge, code_challenge_method="S256"))
    assert r.status_code in (302, 303), r.text
    answer = query_of(r.headers["location"])
    tokens = exchange(client, platform, answer["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    return verified(client, tokens.json()["id_token"], platform)
