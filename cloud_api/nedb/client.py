"""Speaks :mod:`cloud_api.nedb.contract` over HTTP: signs each request, verifies each answer, keeps both.

Every request and every answer becomes a :class:`Packet` as it went over the wire (bytes, time,
signature) for the journal, whatever came of it. What each answer means:

    200 + a signature that verifies + a body that reads      the answer (a delta, or the verdicts)
    200 + a signature that does not verify (or none)         ``NedbUnverified``: not processed
    401 / 403                                                ``NedbFailure``: our key was refused
    429, 5xx, network errors, a body that does not read      ``NedbFailure`` (``Transient``): try later

Every failure carries the packets exchanged so far (``failure.packets``): the caller journals them
too. Retrying is the caller's (:class:`~cloud_api.background.http.RetryPolicy`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode
from uuid import UUID

import httpx
import uuid_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from cloud_api.background.http import Transient, retry_after_s
from cloud_api.nedb.contract import (
    HEADER_CLIENT,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    FiguresAnswer,
    FiguresPacket,
    RosterDelta,
    figures_path,
    pull_path,
    sign_request,
    verify_answer,
)

__all__ = ["Exchanged", "NedbClient", "NedbFailure", "NedbUnverified", "Packet"]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
UNVERIFIED = "the answer's signature does not verify under the NEDB's key"


def _uuid7() -> UUID:
    return UUID(str(uuid_utils.uuid7()))


@dataclass(frozen=True)
class Packet:
    """One packet as it went over the wire, for the journal."""

    direction: str  # out | in
    kind: str  # roster | figures
    at: datetime
    method: str
    target: str
    body: bytes
    timestamp: str | None = None
    signature: str | None = None
    status_code: int | None = None
    verified: bool | None = None
    request_id: UUID | None = None
    id: UUID = field(default_factory=_uuid7)

    @property
    def sha256(self) -> str:
        """The body's SHA-256 (hex), kept in clear beside the encrypted body."""
        return hashlib.sha256(self.body).hexdigest()


class NedbFailure(Transient):
    """No usable answer this time; ``packets`` are what was exchanged (journal them)."""

    def __init__(self, error: str, packets: list[Packet], retry_after: float | None = None, status: int | None = None):
        super().__init__(error, retry_after, status)
        self.packets = packets


class NedbUnverified(NedbFailure):
    """An answer whose signature does not verify: kept in the journal, never processed."""


@dataclass(frozen=True)
class Exchanged(Generic[T]):
    """A verified answer read as the contract says, with the request and answer packets."""

    value: T
    request: Packet
    answer: Packet


class NedbClient:
    """One NEDB endpoint (``http.base_url``), our client id and key, the NEDB's public key."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        key: bytes,
        public_key: Ed25519PublicKey,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self._client_id = client_id
        self._key = key
        self._public_key = public_key
        self._clock = clock

    async def pull(self, organisation: str, since: str | None) -> Exchanged[RosterDelta]:
        """The roster delta of ``organisation`` since the cursor ``since`` (None: everything)."""
        target = pull_path(organisation)
        if since is not None:
            target += "?" + urlencode({"since": since})
        return await self._exchange("roster", "GET", target, b"", RosterDelta)

    async def send(self, packet: FiguresPacket) -> Exchanged[FiguresAnswer]:
        """Send a figures packet; the NEDB's verdict on each of its records."""
        body = packet.model_dump_json().encode()
        answer = await self._exchange("figures", "POST", figures_path(packet.organisation), body, FiguresAnswer)
        if answer.value.packet_id != packet.packet_id:
            error = f"an answer for another packet: {answer.value.packet_id}"
            raise NedbFailure(error, [answer.request, answer.answer])
        return answer

    async def _exchange(self, kind: str, method: str, target: str, body: bytes, model: type[M]) -> Exchanged[M]:
        timestamp = str(int(self._clock()))
        signature = sign_request(self._key, method, target, timestamp, body)
        headers = {HEADER_CLIENT: self._client_id, HEADER_TIMESTAMP: timestamp, HEADER_SIGNATURE: signature}
        if body:
            headers["Content-Type"] = "application/json"
        request = Packet("out", kind, datetime.now(UTC), method, target, body, timestamp, signature)
        try:
            response = await self.http.request(method, target, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise NedbFailure(f"transport: {exc!r}"[:300], [request]) from exc
        answer_ts = response.headers.get(HEADER_TIMESTAMP)
        answer_sig = response.headers.get(HEADER_SIGNATURE)
        status = response.status_code
        verified = bool(answer_ts and answer_sig) and verify_answer(
            self._public_key, status, signature, answer_ts or "", response.content, answer_sig or ""
        )
        answer = Packet(
            "in",
            kind,
            datetime.now(UTC),
            method,
            target,
            response.content,
            answer_ts,
            answer_sig,
            status,
            verified,
            request.id,
        )
        packets = [request, answer]
        if status != 200:
            # An unsigned 503 is still worth a retry: not being answered needs no proof.
            error = f"HTTP {status}: {response.text[:100]}"
            raise NedbFailure(error, packets, retry_after_s(response.headers.get("Retry-After")), status)
        if not verified:
            raise NedbUnverified(UNVERIFIED, packets)
        try:
            value = model.model_validate_json(response.content)
        except ValidationError as exc:
            raise NedbFailure(f"unreadable answer: {exc.errors()[0]['msg']}"[:300], packets) from exc
        return Exchanged(value, request, answer)
