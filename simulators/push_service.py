"""A local Web Push service: what a parent's phone would receive, decrypted.

It plays both ends a real deployment never sees together: the push service (RFC 8030: ``POST
/push/<token>``, answered 201) and the browser that subscribed (an ECDH P-256 key pair and an auth
secret per device). Every message must carry a valid VAPID JWT (RFC 8292: ES256, signed by the
key in ``k``, ``aud`` this service's origin, ``exp`` within 24 h, a ``sub`` contact) and an
``aes128gcm`` body (RFC 8188/8291) that decrypts with the device's keys; what decrypts is kept in
:attr:`PushServiceState.arrived`. A test can script answers: 410 for a device that unsubscribed,
429 with Retry-After, 500.

    with PushServiceServer() as service:
        device = service.state.new_device()
        ... subscribe device.subscription(service.url) ...
        service.state.wait_for(lambda got: len(got) == 1)
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import FastAPI, Request, Response

from simulators.http_server import ThreadedServer

__all__ = ["Arrived", "Device", "PushServiceServer", "PushServiceState", "create_push_app"]


def _b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Device:
    """A browser that subscribed: its keys, and the token in its endpoint."""

    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self, base_url: str) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` would give the page."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": f"{base_url}/push/{self.token}", "keys": {"p256dh": _b64e(point), "auth": _b64e(self.auth)}}


@dataclass(frozen=True)
class Arrived:
    """One message as the device decrypted it."""

    token: str
    payload: dict[str, Any]
    ttl: int
    urgency: str | None
    subject: str
    at: float  # time.perf_counter() when it arrived (the clock the reader simulators stamp taps with)


@dataclass
class PushServiceState:
    """The devices, what arrived, what was refused, and the answers a test scripted."""

    devices: dict[str, Device] = field(default_factory=dict)
    arrived: list[Arrived] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    scripted: dict[str, deque[tuple[int, str | None]]] = field(default_factory=dict)
    requests: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def new_device(self) -> Device:
        """A browser subscribing: fresh keys and token."""
        device = Device(secrets.token_urlsafe(16), ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16))
        self.devices[device.token] = device
        return device

    def unsubscribe(self, device: Device) -> None:
        """The user revoked the permission: from now on 410 Gone."""
        self.gone.add(device.token)

    def answer_next(self, device: Device, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` messages for ``device`` with ``status`` (429, 500, …)."""
        self.scripted.setdefault(device.token, deque()).extend([(status, retry_after)] * times)

    def for_device(self, device: Device) -> list[dict[str, Any]]:
        """The payloads ``device`` received, in order."""
        with self.cond:
            return [a.payload for a in self.arrived if a.token == device.token]

    def wait_for(self, predicate: Callable[[list[Arrived]], bool], timeout_s: float = 10.0) -> bool:
        """Wait until ``predicate(arrived)`` holds."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.arrived), timeout_s)


def _check_vapid(authorization: str, origin: str) -> str:
    """The JWT's ``sub`` if the VAPID header is valid for ``origin``; ValueError saying why not."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError("not a VAPID authorization")
    fields = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
    token, key = fields.get("t", ""), fields.get("k", "")
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(_b64d(header_b64))
    if header.get("alg") != "ES256":
        raise ValueError("the JWT is not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64d(key))
    raw = _b64d(signature_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the JWT's signature does not verify with k") from None
    claims = json.loads(_b64d(payload_b64))
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
    if not time.time() < int(claims.get("exp", 0)) <= time.time() + 24 * 3600:
        raise ValueError("exp is past or more than 24 h ahead")
    sub = str(claims.get("sub", ""))
    if not sub.startswith(("mailto:", "https:")):
        raise ValueError("sub is not a mailto: or https: contact")
    return sub


def _refuse(state: PushServiceState, status: int, why: str) -> Response:
    with state.cond:
        state.refused.append(why)
        state.cond.notify_all()
    return Response(why, status_code=status)


def create_push_app(state: PushServiceState, origin: Callable[[], str]) -> FastAPI:
    """The push service's HTTP app over ``state``; ``origin()`` is its own scheme://host:port."""
    app = FastAPI(title="Web Push service (simulator)")

    @app.post("/push/{token}")
    async def push(token: str, request: Request) -> Response:
        body = await request.body()
        with state.cond:
            state.requests += 1
            scripted = state.scripted.get(token)
            if scripted:
                status, retry_after = scripted.popleft()
                return Response(status_code=status, headers={"Retry-After": retry_after} if retry_after else None)
        device = state.devices.get(token)
        if device is None:
            return Response(status_code=404)
        if token in state.gone:
            return Response(status_code=410)
        try:
            subject = _check_vapid(request.headers.get("authorization", ""), origin())
        except (ValueError, TypeError) as exc:
            return _refuse(state, 401, f"VAPID: {exc}")  # RFC 8292 §4.1: 401 for a bad or missing JWT
        try:
            if request.headers.get("content-encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            ttl = int(request.headers["ttl"])
            plain = http_ece.decrypt(body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm")
            payload = json.loads(plain)
        except (ValueError, KeyError, TypeError) as exc:
            return _refuse(state, 400, f"message: {exc!r}")
        with state.cond:
            state.arrived.append(
                Arrived(token, payload, ttl, request.headers.get("urgency"), subject, time.perf_counter())
            )
            state.cond.notify_all()
        return Response(status_code=201, headers={"Location": f"{origin()}/messages/{secrets.token_hex(8)}"})

    return app


class PushServiceServer(ThreadedServer):
    """The push service on 127.0.0.1 (a free port), in a background thread."""

    def __init__(self, port: int | None = None) -> None:
        self.state = PushServiceState()
        super().__init__(lambda: create_push_app(self.state, lambda: self.url), "push-service", port)
