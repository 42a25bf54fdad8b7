"""A stand-in for the state's Social Wallet: takes meal registrations, answers Ed25519-signed receipts.

It speaks :mod:`cloud_api.social_wallet.contract` over real HTTP (uvicorn on a free port, in a
thread), keeps every record it accepted once (by record id), and answers a repeat with the same
receipt (200). It can be told to misbehave:

    wallet.fail(3)                       the next 3 requests get 503
    wallet.fail(until=clock() + 3600)    503 until the (injectable) clock says so; ``retry_after`` adds the header
    wallet.delay(0.5)                    answer each request half a second late
    wallet.reject(record_id, "not_eligible")   or reject(lambda registration: ..., reason)
    wallet.answer_twice()                accept, but lose the first answer (503): the retry gets the
                                         same receipt as a duplicate, as after a dropped connection
    wallet.forge()                       sign receipts with a key nobody trusts

It also stands in for the parent's app: each child's free-meal voucher (:meth:`WalletServer.voucher`,
and ``GET /v1/vouchers?iin=…`` for the cloud) and the dynamic QR code the app shows for it now
(:meth:`WalletServer.code`, or :func:`wallet_code` given a voucher and the key), signed with the
Wallet's QR key (:mod:`shared.wallet_qr`; a key of its own, not the receipts').

    with WalletServer() as wallet:
        ... send to wallet.url, verify with wallet.public_key ...
        wallet.state.accepted            record id → the registration, once each
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from cloud_api.social_wallet.contract import (
    IDEMPOTENCY_HEADER,
    REGISTRATIONS_PATH,
    MealRegistration,
    RejectReason,
    WalletReceipt,
    WalletRejection,
    public_key_text,
    sign_receipt,
)
from shared import wallet_qr
from simulators.http_server import ThreadedServer

__all__ = ["VOUCHERS_PATH", "WalletServer", "WalletState", "create_wallet_app", "wallet_code"]

VOUCHERS_PATH = "/v1/vouchers"  # ?iin=<12 digits>: the child's free-meal voucher, 404 when none


def wallet_code(qr_key: Ed25519PrivateKey, voucher_id: UUID, at: float | None = None) -> str:
    """The dynamic QR code the Wallet app shows for ``voucher_id`` at Unix time ``at`` (now)."""
    return wallet_qr.issue(qr_key, voucher_id, time.time() if at is None else at)


Predicate = Callable[[MealRegistration], bool]


@dataclass
class WalletState:
    """What the Wallet holds and how it is told to behave; every field is guarded by ``lock``."""

    key: Ed25519PrivateKey
    clock: Callable[[], float] = time.time
    accepted: dict[UUID, MealRegistration] = field(default_factory=dict)
    receipts: dict[UUID, WalletReceipt] = field(default_factory=dict)
    rejected: dict[UUID, WalletRejection] = field(default_factory=dict)
    requests: int = 0
    failed: int = 0  # requests answered 503
    duplicates: int = 0  # repeats answered with the receipt given before
    fail_left: int = 0
    fail_until: float | None = None
    retry_after: int | None = None
    delay_s: float = 0.0
    rejections: list[tuple[Predicate, str, str]] = field(default_factory=list)
    answer_twice: bool = False
    forge: bool = False
    lost_answers: set[UUID] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    qr_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    vouchers: dict[str, UUID] = field(default_factory=dict)  # IIN → voucher id

    def voucher(self, iin: str) -> UUID:
        """The child's voucher, issued on first asking (the Wallet's registry, by IIN)."""
        with self.lock:
            return self.vouchers.setdefault(iin, uuid.uuid4())

    def failing(self) -> bool:
        """Whether this request is to be answered 503 (counts a ``fail(n)`` down)."""
        if self.fail_until is not None and self.clock() < self.fail_until:
            return True
        if self.fail_left > 0:
            self.fail_left -= 1
            return True
        return False


def create_wallet_app(state: WalletState) -> FastAPI:
    """The Wallet's HTTP app over ``state``."""
    app = FastAPI(title="Social Wallet (simulator)")
    forger = Ed25519PrivateKey.generate()

    @app.post(REGISTRATIONS_PATH)
    async def register(request: Request) -> JSONResponse:
        # The raw body, not a parsed model: a malformed record gets the contract's rejection,
        # not FastAPI's own 422 shape.
        body = await request.body()
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        return _answer(state, forger, body, request.headers.get(IDEMPOTENCY_HEADER))

    @app.get(VOUCHERS_PATH)
    async def voucher(iin: str) -> JSONResponse:
        if len(iin) != 12 or not iin.isdigit():
            return JSONResponse({"detail": "iin is 12 digits"}, 422)
        return JSONResponse({"iin": iin, "voucher_id": str(state.voucher(iin))})

    return app


def _answer(state: WalletState, forger: Ed25519PrivateKey, body: bytes, key: str | None) -> JSONResponse:
    with state.lock:
        state.requests += 1
        if state.failing():
            state.failed += 1
            headers = {"Retry-After": str(state.retry_after)} if state.retry_after is not None else None
            return JSONResponse({"detail": "the Social Wallet is unavailable"}, 503, headers=headers)
        try:
            registration = MealRegistration.model_validate_json(body)
        except ValidationError as exc:
            return _reject(uuid.UUID(int=0), RejectReason.INVALID_RECORD.value, str(exc)[:400])
        record_id = registration.record_id
        if key != str(record_id):
            return _reject(record_id, RejectReason.INVALID_RECORD.value, "Idempotency-Key must be the record id")
        if record_id in state.receipts:
            if record_id in state.lost_answers:
                state.lost_answers.discard(record_id)  # this is the repeat the lost answer made
            state.duplicates += 1
            return _receipt(state, forger, record_id, 200)
        # A refused record is judged afresh when it comes again (the contract: a refusal is not the
        # key's final answer): the school corrects the cause and sends it again under the same id.
        state.rejected.pop(record_id, None)
        for matches, reason, message in state.rejections:
            if matches(registration):
                rejection = WalletRejection(record_id=record_id, reason=reason, message=message)
                state.rejected[record_id] = rejection
                return JSONResponse(rejection.model_dump(mode="json"), 422)
        state.accepted[record_id] = registration
        state.receipts[record_id] = sign_receipt(state.key, record_id, f"SW-{uuid.uuid4()}", datetime.now(UTC))
        if state.answer_twice:
            state.lost_answers.add(record_id)
            return JSONResponse({"detail": "accepted, but the answer was lost"}, 503)
        return _receipt(state, forger, record_id, 201)


def _receipt(state: WalletState, forger: Ed25519PrivateKey, record_id: UUID, status: int) -> JSONResponse:
    receipt = state.receipts[record_id]
    if state.forge:
        forged = sign_receipt(forger, record_id, receipt.receipt_id, receipt.accepted_at)
        # The genuine key named, a stranger's signature: what a man in the middle would send.
        receipt = forged.model_copy(update={"public_key": receipt.public_key})
    return JSONResponse(receipt.model_dump(mode="json"), status)


def _reject(record_id: UUID, reason: str, message: str) -> JSONResponse:
    return JSONResponse(
        WalletRejection(record_id=record_id, reason=reason, message=message).model_dump(mode="json"), 422
    )


class WalletServer(ThreadedServer):
    """The Wallet app served by uvicorn on 127.0.0.1 in a background thread, with its controls."""

    def __init__(
        self, key: Ed25519PrivateKey | None = None, *, clock: Callable[[], float] = time.time, port: int | None = None
    ) -> None:
        self.state = WalletState(key or Ed25519PrivateKey.generate(), clock=clock)
        super().__init__(lambda: create_wallet_app(self.state), "social-wallet", port)

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key its receipts verify under."""
        return self.state.key.public_key()

    @property
    def public_key_text(self) -> str:
        """That key as settings take it (base64 of the raw bytes)."""
        return public_key_text(self.public_key)

    @property
    def qr_public_key_text(self) -> str:
        """The key its dynamic QR codes verify under, as the cloud's setting takes it."""
        return wallet_qr.public_key_text(self.state.qr_key.public_key())

    def voucher(self, iin: str) -> UUID:
        """The child's voucher id (issued on first asking)."""
        return self.state.voucher(iin)

    def code(self, voucher_id: UUID, at: float | None = None) -> str:
        """The dynamic QR code the app shows for ``voucher_id`` now (or at Unix time ``at``)."""
        return wallet_code(self.state.qr_key, voucher_id, at)

    def fail(self, n: int | None = None, *, until: float | None = None, retry_after: int | None = None) -> None:
        """Answer 503 to the next ``n`` requests, or until ``clock() >= until``; ``retry_after`` seconds advised."""
        with self.state.lock:
            self.state.fail_left = n or 0
            self.state.fail_until = until
            self.state.retry_after = retry_after

    def delay(self, seconds: float) -> None:
        """Answer every request ``seconds`` late (0: at once)."""
        self.state.delay_s = seconds

    def reject(self, which: UUID | Predicate, reason: str, message: str = "") -> None:
        """Refuse the record ``which`` (an id or a predicate over the registration) with ``reason``."""
        matches: Predicate = which if callable(which) else (lambda r, wanted=which: r.record_id == wanted)
        with self.state.lock:
            self.state.rejections.append((matches, reason, message or f"refused: {reason}"))

    def answer_twice(self, on: bool = True) -> None:
        """Lose the first answer of each accepted record (503): its retry gets the same receipt, 200."""
        self.state.answer_twice = on

    def forge(self, on: bool = True) -> None:
        """Sign receipts with a stranger's key while naming the genuine one."""
        self.state.forge = on
