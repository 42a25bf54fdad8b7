"""A stand-in for the National Education Database (NEDB, ҰБДҚ): serves roster deltas, takes figures back.

It speaks :mod:`cloud_api.nedb.contract` over real HTTP (uvicorn on a free port, in a thread):
it refuses a request whose HMAC does not verify under the client's key (401), signs every answer
with its Ed25519 key, holds each organisation's roster as a list of changes that :meth:`publish`
numbers (the cursor ``c<n>`` is the number of the last change a school has), answers a figures
packet with a verdict per record (the same answer to the same packet, however often it comes),
and records what it received. It can be told to misbehave:

    nedb.fail(3)                        the next 3 requests get 503
    nedb.fail(until=clock() + 3600)     503 until the (injectable) clock says so; ``retry_after`` adds the header
    nedb.delay(0.5)                     answer each request half a second late (past a client's timeout: "slow")
    nedb.refuse(lambda record: ..., "unknown_class", "…")   refuse the figures records that match
    nedb.unsigned()                     answer without a signature (what a man in the middle would send)

    with NedbServer() as nedb:
        nedb.publish("010101500001", [RosterRecord(...), ...])   a new version of the roster
        ... pull from nedb.url with nedb.client_key, verify with nedb.public_key ...
        nedb.state.received                                      packet id → the figures packet, once each
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError

from cloud_api.nedb.contract import (
    FIGURES_PATH,
    HEADER_CLIENT,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PULL_PATH,
    FigureRecord,
    FiguresAnswer,
    FiguresPacket,
    FigureVerdict,
    Operation,
    RecordKind,
    RosterDelta,
    RosterRecord,
    public_key_text,
    sign_answer,
    verify_request,
)
from simulators.http_server import ThreadedServer
from simulators.nedb_export import nedb_rows

__all__ = ["NedbServer", "NedbState", "create_nedb_app", "demo_roster"]

Predicate = Callable[[FigureRecord], bool]
MAX_SKEW_S = 300


@dataclass
class NedbState:
    """What the NEDB holds and how it is told to behave; every field is guarded by ``lock``."""

    key: Ed25519PrivateKey
    client_id: str
    client_key: bytes
    clock: Callable[[], float] = time.time
    page_size: int = 1000
    changes: dict[str, list[RosterRecord]] = field(default_factory=dict)  # organisation → its changes in order
    received: dict[UUID, FiguresPacket] = field(default_factory=dict)
    answers: dict[UUID, FiguresAnswer] = field(default_factory=dict)
    pulls: list[tuple[str, str | None]] = field(default_factory=list)  # (organisation, since) answered
    requests: int = 0
    failed: int = 0  # answered 503
    unauthorised: int = 0  # answered 401
    repeats: int = 0  # figures packets received again (answered as before)
    fail_left: int = 0
    fail_until: float | None = None
    retry_after: int | None = None
    delay_s: float = 0.0
    refusals: list[tuple[Predicate, str, str]] = field(default_factory=list)
    sign: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failing(self) -> bool:
        """Whether this request is to be answered 503 (counts a ``fail(n)`` down)."""
        if self.fail_until is not None and self.clock() < self.fail_until:
            return True
        if self.fail_left > 0:
            self.fail_left -= 1
            return True
        return False


def _cursor(n: int) -> str:
    return f"c{n}"


def _position(since: str | None) -> int | None:
    if since is None:
        return 0
    if since.startswith("c") and since[1:].isdigit():
        return int(since[1:])
    return None


def create_nedb_app(state: NedbState) -> FastAPI:
    """The NEDB's HTTP app over ``state``."""
    app = FastAPI(title="NEDB exchange (simulator)")

    def answer(request_signature: str, status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
        timestamp = str(int(state.clock()))
        out = dict(headers or {})
        if state.sign:
            out[HEADER_TIMESTAMP] = timestamp
            out[HEADER_SIGNATURE] = sign_answer(state.key, status, request_signature, timestamp, body)
        return Response(body, status, headers=out, media_type="application/json")

    def problem(signature: str, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
        return answer(signature, status, f'{{"detail": "{detail}"}}'.encode(), headers)

    async def checked(request: Request) -> tuple[str, bytes, Response | None]:
        body = await request.body()
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        signature = request.headers.get(HEADER_SIGNATURE, "")
        timestamp = request.headers.get(HEADER_TIMESTAMP, "")
        with state.lock:
            state.requests += 1
            if state.failing():
                state.failed += 1
                headers = {"Retry-After": str(state.retry_after)} if state.retry_after is not None else None
                return signature, body, problem(signature, 503, "the NEDB is unavailable", headers)
            good = (
                request.headers.get(HEADER_CLIENT) == state.client_id
                and timestamp.isdigit()
                and abs(state.clock() - int(timestamp)) <= MAX_SKEW_S
                and verify_request(state.client_key, request.method, target, timestamp, body, signature)
            )
            if not good:
                state.unauthorised += 1
                return signature, body, problem(signature, 401, "the request's signature does not verify")
        return signature, body, None

    @app.get(PULL_PATH)
    async def roster_delta(org: str, request: Request, since: str | None = None) -> Response:
        signature, _body, refused = await checked(request)
        if refused is not None:
            return refused
        with state.lock:
            changes = state.changes.get(org)
            start = _position(since)
            if changes is None:
                return problem(signature, 404, "no such organisation")
            if start is None or start > len(changes):
                return problem(signature, 422, "not a cursor of this organisation")
            page = changes[start : start + state.page_size]
            end = start + len(page)
            delta = RosterDelta(
                organisation=org, since=since, version=_cursor(end), more=end < len(changes), records=page
            )
            state.pulls.append((org, since))
        return answer(signature, 200, delta.model_dump_json(exclude_none=True).encode())

    @app.post(FIGURES_PATH)
    async def figures(org: str, request: Request) -> Response:
        signature, body, refused = await checked(request)
        if refused is not None:
            return refused
        try:
            packet = FiguresPacket.model_validate_json(body)
        except ValidationError:
            return problem(signature, 422, "not a figures packet")
        if packet.organisation != org:
            return problem(signature, 422, "the packet names another organisation")
        with state.lock:
            done = state.answers.get(packet.packet_id)
            if done is None:
                verdicts = [_verdict(state, record) for record in packet.records]
                done = state.answers[packet.packet_id] = FiguresAnswer(packet_id=packet.packet_id, verdicts=verdicts)
                state.received[packet.packet_id] = packet
            else:
                state.repeats += 1
        return answer(signature, 200, done.model_dump_json().encode())

    return app


def _verdict(state: NedbState, record: FigureRecord) -> FigureVerdict:
    for matches, reason, message in state.refusals:
        if matches(record):
            return FigureVerdict(record_id=record.record_id, status="refused", reason=reason, message=message)
    return FigureVerdict(record_id=record.record_id, status="acknowledged")


def demo_roster(students: int, seed: int = 2026) -> list[RosterRecord]:
    """A school's roster as NEDB records (students and staff of :func:`simulators.nedb_export.nedb_rows`,
    with its classes), for the demo and the CLI."""
    records: list[RosterRecord] = []
    classes: set[str] = set()
    for n, row in enumerate(nedb_rows(students, seed)):
        role, iin, last, first, class_name, language, category, discount = row[:8]
        if role not in ("student", "staff"):
            continue
        if class_name:
            classes.add(class_name)
        records.append(
            RosterRecord(
                record_id=f"p{n}",
                op=Operation.UPSERT,
                kind=RecordKind(role),
                iin=iin,
                last_name=last,
                first_name=first,
                class_name=class_name or None,
                language=language or None,
                meal_category=category or None,
                discount_percent=int(discount) if discount else None,
            )
        )
    made = [
        RosterRecord(record_id=f"class-{name}", op=Operation.UPSERT, kind=RecordKind.CLASS, class_name=name)
        for name in sorted(classes)
    ]
    return made + records


class NedbServer(ThreadedServer):
    """The NEDB app served by uvicorn on 127.0.0.1 in a background thread, with its controls."""

    def __init__(
        self,
        key: Ed25519PrivateKey | None = None,
        *,
        client_id: str = "mektep-gate",
        client_key: bytes | None = None,
        clock: Callable[[], float] = time.time,
        port: int | None = None,
        page_size: int = 1000,
    ) -> None:
        secret = client_key or random.randbytes(32).hex().encode()
        self.state = NedbState(key or Ed25519PrivateKey.generate(), client_id, secret, clock, page_size)
        super().__init__(lambda: create_nedb_app(self.state), "nedb", port)

    @property
    def client_key(self) -> bytes:
        """The key the client signs its requests with (the deployment's ``nedb_key``)."""
        return self.state.client_key

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key its answers verify under."""
        return self.state.key.public_key()

    @property
    def public_key_text(self) -> str:
        """That key as settings take it (base64 of the raw bytes)."""
        return public_key_text(self.public_key)

    def publish(self, organisation: str, records: Sequence[RosterRecord | dict[str, Any]]) -> str:
        """A new version of the organisation's roster: ``records`` changed; the cursor that includes them."""
        parsed = [r if isinstance(r, RosterRecord) else RosterRecord.model_validate(r) for r in records]
        with self.state.lock:
            changes = self.state.changes.setdefault(organisation, [])
            changes.extend(parsed)
            return _cursor(len(changes))

    def fail(self, n: int | None = None, *, until: float | None = None, retry_after: int | None = None) -> None:
        """Answer 503 to the next ``n`` requests, or until ``clock() >= until``; ``retry_after`` seconds advised."""
        with self.state.lock:
            self.state.fail_left = n or 0
            self.state.fail_until = until
            self.state.retry_after = retry_after

    def delay(self, seconds: float) -> None:
        """Answer every request ``seconds`` late (0: at once)."""
        self.state.delay_s = seconds

    def refuse(self, which: Predicate, reason: str, message: str = "") -> None:
        """Refuse the figures records ``which`` matches, with ``reason``."""
        with self.state.lock:
            self.state.refusals.append((which, reason, message or f"refused: {reason}"))

    def unsigned(self, on: bool = True) -> None:
        """Answer without a signature."""
        self.state.sign = not on
