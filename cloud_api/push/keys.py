"""The deployment's VAPID key (RFC 8292): made once, kept in the database, shared by every API process.

``mektep cloud init`` makes it; an app in development makes it on first start, so that the demo
and the tests need no step. The public half is what a browser's ``PushManager.subscribe`` takes as
``applicationServerKey``; push services check every request's JWT against it.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from sqlalchemy import Connection

from cloud_api.services.deployment_keys import ensure_key, stored_key

__all__ = ["VAPID", "VapidKey", "b64url", "ensure_vapid_key", "load_vapid_key"]

VAPID = "vapid"


def b64url(data: bytes) -> str:
    """Base64url without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class VapidKey:
    """The deployment's VAPID key: signs each push service's JWT, and says its public half."""

    def __init__(self, private_pem: str) -> None:
        self.vapid = Vapid02.from_pem(private_pem.encode())
        self.public = _public_of(self.vapid.public_key)


def _make() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode(), _public_of(key.public_key())


def _public_of(key: ec.EllipticCurvePublicKey) -> str:
    # The uncompressed point, base64url: what applicationServerKey and the JWT's "k" carry.
    return b64url(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def ensure_vapid_key(conn: Connection) -> tuple[str, bool]:
    """The deployment's VAPID public key, made now if there is none; and whether it was made now."""
    (_, public), made = ensure_key(conn, VAPID, _make)
    return public, made


def load_vapid_key(conn: Connection) -> VapidKey | None:
    """The deployment's VAPID key, or None before ``mektep cloud init``."""
    found = stored_key(conn, VAPID)
    return None if found is None else VapidKey(found[0])
