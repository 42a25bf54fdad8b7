"""Single sign-on's throughput for ``mektep bench integrations``: ID tokens issued per second.

A real ``mektep cloud serve`` process (SQLite by default, or the URL given) gets a school with
``students`` students, each with an account, a signed-in device session and their consent already
given to one registered platform (the consent page is a person's pace, not the server's). Then
``clients`` concurrent platform threads run ``sign_ins`` whole authorization code flows without a
browser, each as a relying party would:

1. ``GET /oidc/authorize`` with the student's session cookie, a fresh state, nonce and PKCE
   challenge (S256): the redirect carries the code;
2. ``POST /oidc/token`` with the code, the PKCE verifier and the client's secret (Basic);
3. the ID token verified against the JWKS (read once, as a relying party caches it): signature,
   issuer, audience, nonce.

Figures: ``oidc_sign_ins_per_s`` (whole flows per second), ``oidc_sign_in_p95_ms`` (one flow's time,
both requests and the check), ``oidc_sign_ins`` and ``oidc_failures`` (any flow that did not end with
a verified token). One flow runs before the clock starts (it makes the signing key).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import people
from cloud_api.integrations.clients import create_client
from cloud_api.integrations.oidc.grants import record_grant
from cloud_api.roster.iin import check_digit
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.accounts import SYSTEM, Role, create_account, grant_role
from cloud_api.services.roster_import import import_roster
from cloud_api.services.schools import place_school
from cloud_api.services.sessions import open_session
from mektep.processes import CloudProcess
from mektep.timing import p95

__all__ = ["measure_oidc_sign_ins"]

SCHOOL = "bench-oidc"
REDIRECT_URI = "https://opiq.example/cb"
SCOPE = "openid profile school class role"
CLAIMS = ("name", "school", "class", "role", "locale")


@dataclass(frozen=True)
class _Platform:
    client_id: str
    secret: str


def _iins(count: int) -> list[str]:
    found: list[str] = []
    serial = 0
    while len(found) < count:
        serial += 1
        prefix = f"120501{serial:05d}"  # born 2012-05-01
        digit = check_digit(prefix)
        if digit is not None:
            found.append(prefix + str(digit))
    return found


def _prepare(database_url: str, students: int) -> tuple[_Platform, list[str]]:
    """The school, its students (accounts, sessions, consent) and the platform; the sessions' tokens."""
    upgrade(database_url)
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    header = ["role", "IIN", "Last name", "first_name", "class", "language"]
    rows = [["student", iin, "Оқушы", f"Бала {i}", "7А", "kk"] for i, iin in enumerate(_iins(students))]
    tokens: list[str] = []
    try:
        with engine.begin() as conn:
            place_school(conn, SCHOOL, "Bench school", "almaty")
            import_roster(conn, SCHOOL, parse_rows([header, *rows]), actor=SYSTEM)
            client, secret = create_client(
                conn, name="Opiq", actor=SYSTEM, now=now, redirect_uris=[REDIRECT_URI], claims=CLAIMS
            )
            person_ids = list(conn.execute(select(people.c.id).where(people.c.school_id == SCHOOL)).scalars())
            for i, person_id in enumerate(person_ids):
                account = create_account(
                    conn, f"student{i}@bench.kz", actor=SYSTEM, password=None, school_id=SCHOOL, person_id=person_id
                )
                grant_role(conn, account.id, Role.STUDENT, SCHOOL, actor=SYSTEM)
                record_grant(conn, account.id, client.client_id, CLAIMS, offered=CLAIMS, school_id=SCHOOL, now=now)
                tokens.append(open_session(conn, account.id, now, kind="device").token)
    finally:
        engine.dispose()
    return _Platform(client.client_id, secret), tokens


def _one_flow(http: httpx.Client, url: str, platform: _Platform, session: str, keys: KeySet, issuer: str) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    nonce, state = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": platform.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    answer = http.get(f"{url}/oidc/authorize?{query}", cookies={"mektep_session": session})
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    if back.get("state") != [state]:
        raise RuntimeError(f"the redirect lost the state: {answer.headers['location']}")
    form = {
        "grant_type": "authorization_code",
        "code": back["code"][0],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    tokens = http.post(f"{url}/oidc/token", data=form, auth=(platform.client_id, platform.secret))
    tokens.raise_for_status()
    token = jwt.decode(tokens.json()["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": platform.client_id},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)


def _healthz_pairs(url: str, pairs: int, clients: int) -> float:
    """The baseline: as many pairs of the cheapest request (``/healthz``) as flows, on as many
    threads: a flow is two requests too, so the ratio is what signing a student in costs."""
    counter = iter(range(pairs))
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(timeout=30) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                http.get(f"{url}/healthz")
                http.get(f"{url}/healthz")

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pairs / (time.perf_counter() - started)


def _run(url: str, platform: _Platform, sessions: list[str], sign_ins: int, clients: int) -> dict[str, Any]:
    with httpx.Client(timeout=30) as http:
        issuer = http.get(f"{url}/oidc/.well-known/openid-configuration").json()["issuer"]
        keys = KeySet.import_key_set(http.get(f"{url}/oidc/jwks").json())
        _one_flow(http, url, platform, sessions[0], keys, issuer)  # the signing key exists from here on
    durations: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(sign_ins))

    def work() -> None:
        with httpx.Client(timeout=30) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                try:
                    _one_flow(http, url, platform, sessions[i % len(sessions)], keys, issuer)
                except Exception as exc:  # a bench counts failures, whatever they are
                    with lock:
                        failures.append(repr(exc)[:200])
                    continue
                with lock:
                    durations.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    figures: dict[str, Any] = {
        "oidc_sign_ins_per_s": len(durations) / took,
        "healthz_pairs_per_s": _healthz_pairs(url, sign_ins, clients),
        "oidc_sign_in_p95_ms": p95(durations) if durations else None,
        "oidc_sign_ins": len(durations),
        "oidc_failures": len(failures),
    }
    if failures:
        figures["oidc_failure_example"] = failures[0]
    return figures


def measure_oidc_sign_ins(
    sign_ins: int = 300, clients: int = 4, students: int = 50, database_url: str | None = None
) -> dict[str, Any]:
    """Whole authorization code flows against a real cloud process; the figures above."""
    with tempfile.TemporaryDirectory(prefix="mektep-bench-oidc-") as tmp:
        cloud = CloudProcess(Path(tmp), database_url=database_url)
        platform, sessions = _prepare(cloud.database_url, students)
        cloud.start_and_wait()
        try:
            return _run(cloud.url, platform, sessions, sign_ins, clients)
        finally:
            cloud.stop()
