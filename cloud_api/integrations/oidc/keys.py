"""The keys that sign ID tokens, and the pairwise subject a platform knows a student by.

Signing keys are RSA (RS256, which every relying party must accept). The newest unretired key
signs; :func:`rotate_signing_key` retires it and makes a new one, and a retired key stays in the
JWKS for :data:`KEEP_RETIRED` (far longer than an ID token lives), so a token signed just before a
rotation still verifies and no platform's session breaks. A key older than :data:`ROTATE_AFTER`
is rotated by the next sign-in on its own; ``mektep cloud rotate-oidc-key`` rotates at once.
Private keys are encrypted at rest (``oidc_keys.private_pem``, the data keys of
``cloud_api.core.data_keys``). The caller owns the transaction.

The subject (``sub``) is pairwise (OpenID Connect Core §8.1): an HMAC, under a secret of the
deployment, of the platform's sector (the host of its first redirect URI) and the account's id. One
platform always sees the same subject for a student; two platforms see unrelated ones and cannot
join their users.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import Connection, insert, or_, select, update

from cloud_api.db.schema import oidc_keys
from cloud_api.integrations.clients import IntegrationClient
from cloud_api.services.deployment_keys import ensure_key

__all__ = [
    "ALGORITHM",
    "KEEP_RETIRED",
    "ROTATE_AFTER",
    "jwks",
    "pairwise_subject",
    "rotate_signing_key",
    "sector_of",
    "signing_key",
]

ALGORITHM = "RS256"
KEEP_RETIRED = timedelta(days=2)
ROTATE_AFTER = timedelta(days=90)
_PAIRWISE_KEY = "oidc-pairwise"

# Decrypting and parsing a PEM costs more than signing: each process keeps the keys it has read.
_loaded: dict[str, RSAKey] = {}
_lock = threading.Lock()


def _make(conn: Connection, now: datetime) -> str:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
    conn.execute(
        insert(oidc_keys).values(
            kid=key.kid,
            private_pem=key.as_pem(private=True).decode(),
            public_jwk=key.as_dict(private=False),
            created_at=now,
        )
    )
    return str(key.kid)


def rotate_signing_key(conn: Connection, now: datetime) -> str:
    """Retire the signing key in force (it still verifies for :data:`KEEP_RETIRED`); the new key's id."""
    conn.execute(update(oidc_keys).where(oidc_keys.c.retired_at.is_(None)).values(retired_at=now))
    return _make(conn, now)


def signing_key(conn: Connection, now: datetime) -> RSAKey:
    """The key that signs now (made at the first sign-in, rotated when older than :data:`ROTATE_AFTER`)."""
    row = conn.execute(
        select(oidc_keys.c.kid, oidc_keys.c.created_at)
        .where(oidc_keys.c.retired_at.is_(None))
        .order_by(oidc_keys.c.created_at.desc(), oidc_keys.c.kid)
        .limit(1)
    ).first()
    if row is None:
        kid = _make(conn, now)
    elif now - row.created_at > ROTATE_AFTER:
        kid = rotate_signing_key(conn, now)
    else:
        kid = row.kid
    with _lock:
        key = _loaded.get(kid)
    if key is None:
        pem = conn.execute(select(oidc_keys.c.private_pem).where(oidc_keys.c.kid == kid)).scalar_one()
        key = RSAKey.import_key(pem, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})
        with _lock:
            _loaded[kid] = key
    return key


def jwks(conn: Connection, now: datetime) -> dict[str, Any]:
    """The public keys a relying party verifies ID tokens with: the signing key and those retired lately."""
    rows = conn.execute(
        select(oidc_keys.c.public_jwk)
        .where(or_(oidc_keys.c.retired_at.is_(None), oidc_keys.c.retired_at > now - KEEP_RETIRED))
        .order_by(oidc_keys.c.created_at.desc(), oidc_keys.c.kid)
    )
    return {"keys": [dict(row.public_jwk) for row in rows]}


def key_set(conn: Connection, now: datetime) -> KeySet:
    """:func:`jwks` as joserfc reads it (to check an ``id_token_hint``)."""
    return KeySet.import_key_set(jwks(conn, now))


def sector_of(client: IntegrationClient) -> str:
    """The host a platform's subjects are computed for: its first redirect URI's."""
    return (urlsplit(client.redirect_uris[0]).hostname or "") if client.redirect_uris else client.client_id


def pairwise_subject(conn: Connection, client: IntegrationClient, account_id: UUID) -> str:
    """The subject ``client`` knows the account by: stable for that platform, unrelated across platforms."""
    (secret, _), _made = ensure_key(conn, _PAIRWISE_KEY, lambda: (secrets.token_urlsafe(32), ""))
    mac = hmac.new(secret.encode(), f"{sector_of(client)}\0{account_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
