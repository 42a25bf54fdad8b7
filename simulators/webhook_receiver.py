"""A webhook receiver, as an integration client would run one: verifies, dedupes, keeps what arrived.

Every POST is checked with ``standardwebhooks`` against each secret it was given (the Standard
Webhooks headers, a timestamp within 5 minutes of now, one signature of ``webhook-signature``
matching); a message that does not verify is answered 401 and not kept. A message whose
``webhook-id`` arrived already is answered 200 and not kept again, as a receiver should. A test can
make it answer something else (``state.status = 503``: down) and read what arrived in order.

    with WebhookReceiverServer() as receiver:
        receiver.state.secrets = [secret]
        ... subscribe receiver.url + "/hook" ...
        receiver.state.wait_for(lambda got: len(got) == 1)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.http_server import ThreadedServer

__all__ = ["Arrived", "ReceiverState", "WebhookReceiverServer", "create_receiver_app"]


@dataclass(frozen=True)
class Arrived:
    """One message that verified: its id, headers, parsed body, and when it arrived (``time.time()``)."""

    id: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    at: float


@dataclass
class ReceiverState:
    """What the receiver knows (its secrets), how it answers, and what it got."""

    secrets: list[str] = field(default_factory=list)
    status: int = 200  # what a verified message is answered (503: the receiver is down)
    delay_s: float = 0.0  # how long it takes to answer (a receiver that hangs)
    arrived: list[Arrived] = field(default_factory=list)
    refused: int = 0  # messages that did not verify
    attempts: int = 0  # every POST, answered as it was
    _seen: set[str] = field(default_factory=set)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def verify(self, raw: bytes, headers: dict[str, str]) -> Any:
        """The parsed body if a secret verifies the message, else :class:`WebhookVerificationError`."""
        for secret in self.secrets:
            try:
                return Webhook(secret).verify(raw, headers)
            except WebhookVerificationError:
                continue
        raise WebhookVerificationError("no secret verifies this message")

    def receive(self, raw: bytes, headers: dict[str, str]) -> int:
        """Judge one POST; the status to answer."""
        with self._changed:
            self.attempts += 1
            if self.status != 200:
                return self.status
        try:
            body = self.verify(raw, headers)
        except WebhookVerificationError:
            with self._changed:
                self.refused += 1
            return 401
        with self._changed:
            msg_id = headers["webhook-id"]
            if msg_id not in self._seen:
                self._seen.add(msg_id)
                self.arrived.append(Arrived(msg_id, headers, body, raw, time.time()))
                self._changed.notify_all()
        return 204

    def wait_for(self, done: Callable[[list[Arrived]], bool], timeout_s: float = 10.0) -> list[Arrived]:
        """What arrived, once ``done`` says so (AssertionError after ``timeout_s``)."""
        with self._changed:
            if not self._changed.wait_for(lambda: done(self.arrived), timeout_s):
                raise AssertionError(f"the receiver got {len(self.arrived)} messages and is still waiting")
            return list(self.arrived)


def create_receiver_app(state: ReceiverState) -> Starlette:
    """The receiver's ASGI app: ``POST /hook`` (any path, in fact); plain Starlette, as a lean receiver is."""

    async def hook(request: Request) -> Response:
        raw = await request.body()
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Response(status_code=state.receive(raw, headers))

    return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


class WebhookReceiverServer(ThreadedServer):
    """The receiver on 127.0.0.1 (a free port), in a background thread."""

    def __init__(self, port: int | None = None) -> None:
        self.state = ReceiverState()
        super().__init__(lambda: create_receiver_app(self.state), "webhook-receiver", port)
