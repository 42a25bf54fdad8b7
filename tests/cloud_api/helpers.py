"""Builders shared by the cloud API tests: events, batches, signature headers, row counts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Table, func, select
from uuid_utils import uuid7

from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, INGEST_PATH, sign

__all__ = ["ADMIN", "KEY", "KEY2", "Authenticator", "admin", "batch_body", "count", "event", "sign_in", "signed"]

KEY = "gateway-secret-key-1"
KEY2 = "gateway-secret-key-2"
ADMIN = "admin-token-for-tests"


def event(seq: int, *, at: str = "2026-11-20T08:00:00+05:00", school: str = "s1", **fields: Any) -> dict[str, Any]:
    """An entry event of gateway gw1 as the gateway would send it; ``fields`` override."""
    return {
        "id": str(uuid7()),
        "seq": seq,
        "school_id": school,
        "gateway_id": "gw1",
        "device_id": "r1",
        "kind": "entry",
        "occurred_at": at,
        "decision": "granted",
        "reason": "no_roster",
        **fields,
    }


def batch_body(events: list[dict[str, Any]], gateway: str = "gw1") -> bytes:
    """A batch's JSON bytes; a fresh ``sent_at`` each call, as the forwarder's retries have."""
    return json.dumps({"gateway_id": gateway, "sent_at": datetime.now(UTC).isoformat(), "events": events}).encode()


def signed(body: bytes, *, key: str = KEY, gateway: str = "gw1", ts: int | None = None) -> dict[str, str]:
    """The headers a gateway sends with ``body``."""
    timestamp = str(ts if ts is not None else int(time.time()))
    return {
        HEADER_GATEWAY: gateway,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: sign(key.encode(), "POST", INGEST_PATH, timestamp, body),
        "Content-Type": "application/json",
    }


class Authenticator:
    """The authenticator app on a test user's phone: the secrets it scanned, and the codes it shows.

    A code works once (the cloud refuses a step it has taken), so the app hands out the next step's
    code when the current one is used, and waits for the clock when even that is taken.
    """

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self._last_step: dict[str, int] = {}

    def scan(self, login: str, secret: str) -> None:
        """Keep the secret of ``login`` (a new enrolment restarts its steps)."""
        self.secrets[login] = secret
        self._last_step.pop(login, None)

    def code(self, login: str) -> str:
        """A code for ``login`` that the cloud has not taken yet."""
        totp = pyotp.TOTP(self.secrets[login])
        now = time.time()
        now_step = int(now) // 30
        # The cloud takes the step before its own, so a used code's step can be reused up to a minute
        # on; but only early in a step: a request that crosses into the next step on a busy machine
        # would otherwise find the code two steps behind and refused.
        oldest = now_step - 1 if now % 30 < 20 else now_step
        step = max(oldest, self._last_step.get(login, oldest - 1) + 1)
        if step > now_step + 1:  # two codes ahead already: wait for the clock to catch up
            time.sleep((step - 1) * 30 - time.time() + 0.05)
        self._last_step[login] = step
        return totp.at(step * 30)


def sign_in(client: TestClient, login: str, password: str) -> dict[str, str]:
    """Sign in over the API as its user would; the Authorization header of the session.

    A staff member without a second factor enrols the app at this first sign-in (the cloud asks
    for it) and is signed in by the confirmation; one who has it gives its code. The app lives on
    ``client.app.state`` so that every test of one app shares the phone.
    """
    state = client.app.state  # type: ignore[attr-defined]
    if not hasattr(state, "authenticator"):
        state.authenticator, state.signed_in = Authenticator(), {}
    phone: Authenticator = state.authenticator
    key = login.strip().lower()
    # Staff sessions are kept and reused while they last: a code works once, and a test that signs
    # the same head teacher in five times would otherwise wait for the clock.
    kept = state.signed_in.get((key, password))
    if kept is not None and client.get("/v1/me", headers=kept).status_code == 200:
        return dict(kept)
    body = {"login": login, "password": password}
    r = client.post("/v1/auth/sign-in", json=body)
    if r.status_code == 401 and r.json()["detail"]["code"] == "second_factor_required":
        r = client.post("/v1/auth/sign-in", json={**body, "code": phone.code(key)})
    assert r.status_code == 200, r.text
    session = r.json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    if session["stage"] == "enrol":
        enrolment = client.post("/v1/me/second-factor/totp", headers=headers).json()
        phone.scan(key, enrolment["secret"])
        confirmed = client.post("/v1/me/second-factor/totp/confirm", headers=headers, json={"code": phone.code(key)})
        assert confirmed.status_code == 200, confirmed.text
        headers = {"Authorization": f"Bearer {confirmed.json()['session']['token']}"}
    if r.json()["stage"] == "enrol" or "code" in str(r.request.content):
        state.signed_in[(key, password)] = headers
    return dict(headers)


def admin(token: str = ADMIN) -> dict[str, str]:
    """The admin API's Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def count(app: FastAPI, table: Table) -> int:
    """Rows in ``table`` of the app's database."""
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
