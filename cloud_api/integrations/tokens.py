"""Access tokens of the OAuth 2.0 client credentials grant (RFC 6749 §4.4): issued, kept, checked.

A token is 256 random bits, opaque (it means nothing outside this database), an hour long, and
kept only as its SHA-256. It carries the scopes granted when it was issued (a subset of the
client's); a use checks the client anew, so that a revoked client's tokens stop at once and a
client whose scopes were narrowed since loses what it no longer has. The caller owns the
transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from cloud_api.db.schema import integration_tokens
from cloud_api.integrations.clients import IntegrationClient, get_client

__all__ = ["MAX_LIVE_TOKENS", "TOKEN_TTL", "Grant", "issue_token", "token_grant"]

TOKEN_TTL = timedelta(hours=1)
# A system needs one token an hour (a few, across its own processes); one that asks in a loop keeps
# only its newest tokens, so that the table stays small whatever it does.
MAX_LIVE_TOKENS = 20


@dataclass(frozen=True)
class Grant:
    """What a valid token stands for: its client (active) and the scopes it may use now."""

    client: IntegrationClient
    scopes: frozenset[str]
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: Connection, client: IntegrationClient, scopes: list[str], now: datetime) -> tuple[str, datetime]:
    """A new access token for ``client`` with ``scopes`` (already checked), and when it ends.

    The client's tokens that ended are pruned as it goes, and beyond :data:`MAX_LIVE_TOKENS` its
    oldest ones end now: a system asking hourly keeps one row or two.
    """
    token = secrets.token_urlsafe(32)
    expires = now + TOKEN_TTL
    conn.execute(
        delete(integration_tokens).where(
            integration_tokens.c.client_id == client.client_id, integration_tokens.c.expires_at <= now
        )
    )
    live = conn.execute(
        select(integration_tokens.c.token_hash)
        .where(integration_tokens.c.client_id == client.client_id)
        .order_by(integration_tokens.c.issued_at.desc(), integration_tokens.c.token_hash)
        .offset(MAX_LIVE_TOKENS - 1)
    ).scalars()
    if surplus := list(live):
        conn.execute(
            delete(integration_tokens).where(
                integration_tokens.c.client_id == client.client_id, integration_tokens.c.token_hash.in_(surplus)
            )
        )
    conn.execute(
        insert(integration_tokens).values(
            token_hash=_digest(token),
            client_id=client.client_id,
            scopes=sorted(scopes),
            issued_at=now,
            expires_at=expires,
        )
    )
    return token, expires


def token_grant(conn: Connection, token: str, now: datetime) -> Grant | None:
    """What ``token`` may do now, or None: unknown, expired, or its client revoked."""
    row = conn.execute(select(integration_tokens).where(integration_tokens.c.token_hash == _digest(token))).first()
    if row is None or row.expires_at <= now:
        return None
    client = get_client(conn, row.client_id)
    if client is None or not client.active:
        return None
    return Grant(client, frozenset(row.scopes) & frozenset(client.scopes), row.expires_at)
