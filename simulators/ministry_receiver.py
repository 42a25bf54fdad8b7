"""A stand-in for the education authority's report endpoint: verifies, keeps, and gives receipts.

It speaks :mod:`cloud_api.reports.receiver_contract`: a delivery whose signature or files do not verify
is refused with 422 and kept nowhere; a good one is kept and answered with a receipt, the same
receipt every time the same version comes again. ``down = True`` makes it answer 503, as a
receiver under maintenance would, until it is set back.

    with ReceiverServer(public_key) as receiver:      # uvicorn on a free port, in a thread
        ... deliver to receiver.url ...
        receiver.state.deliveries                      # what arrived and verified
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, HTTPException, Response

from cloud_api.reports.manifest import ManifestError, verify_files
from cloud_api.reports.receiver_contract import DELIVERY_PATH, Delivery, Receipt, decode_files
from simulators.http_server import ThreadedServer

__all__ = ["ReceiverServer", "ReceiverState", "create_receiver_app"]


@dataclass
class ReceiverState:
    """What the receiver holds and how it is told to behave."""

    public_key: Ed25519PublicKey
    down: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    receipts: dict[tuple[str, int], Receipt] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    attempts: int = 0


def create_receiver_app(state: ReceiverState) -> FastAPI:
    """The receiver's HTTP app over ``state``."""
    app = FastAPI(title="Ministry report receiver (simulator)")

    @app.post(DELIVERY_PATH, status_code=201)
    def deliver(delivery: Delivery, response: Response) -> Receipt:
        state.attempts += 1
        if state.down:
            raise HTTPException(503, "receiver is down for maintenance")
        try:
            manifest = base64.b64decode(delivery.manifest, validate=True)
            verify_files(state.public_key, manifest, delivery.signature, decode_files(delivery.files))
        except (ManifestError, ValueError) as exc:
            state.refused.append(str(exc))
            raise HTTPException(422, f"delivery does not verify: {exc}") from exc
        key = (delivery.report_id, delivery.version)
        if key in state.receipts:
            response.status_code = 200  # the same version again: the same receipt, nothing new kept
            return state.receipts[key]
        receipt = Receipt(
            receipt_id=str(uuid.uuid4()),
            report_id=delivery.report_id,
            version=delivery.version,
            received_at=datetime.now(UTC),
            manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        )
        state.deliveries.append(delivery)
        state.receipts[key] = receipt
        return receipt

    return app


class ReceiverServer(ThreadedServer):
    """The receiver app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, public_key: Ed25519PublicKey, port: int | None = None) -> None:
        self.state = ReceiverState(public_key)
        super().__init__(lambda: create_receiver_app(self.state), "ministry-receiver", port)
