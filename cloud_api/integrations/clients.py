"""The registry of outside systems: who may sign students in, call the API, receive events, and where.

An *integration client* is one outside system (an e-textbook platform, an e-diary, another
access-control system) that the deployment's or a region's administrator registered. It has:

- a ``client_id`` (public) and a secret, shown once when made or rotated and kept as SHA-256;
  a rotation keeps the previous secret working for an overlap so the system can switch without an
  outage;
- for single sign-on, its ``redirect_uris`` and the ``claims`` it may ask for (:data:`CLAIMS`);
  the IIN is not a claim and never will be; and perhaps its ``initiate_login_uri`` (OpenID Connect
  third-party initiated login), where a student's page sends them to start signing in there;
- for the API and webhooks, its ``scopes`` (:data:`SCOPES`);
- its reach: a region (or the whole country) and, within it, some schools or all of them.

A revoked client signs nobody in, gets no token and no webhook. Every change is journalled.
The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, select, update

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import integration_clients, schools
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "CLAIMS",
    "DEFAULT_RATE_PER_MINUTE",
    "ROTATION_OVERLAP",
    "SCOPES",
    "IntegrationClient",
    "authenticate",
    "create_client",
    "get_client",
    "list_clients",
    "may_serve_school",
    "revoke_client",
    "rotate_secret",
    "schools_served",
]

# What a platform may learn of a student who signs in with Mektep (OpenID Connect claims). Never
# the IIN: a state identifier would let every platform join its users with every other's.
CLAIMS = ("name", "school", "class", "role", "locale")
# What a system may read through the API (OAuth 2.0 client credentials) and hear of by webhook.
SCOPES = ("attendance:read", "meals:read", "roster:read")
DEFAULT_RATE_PER_MINUTE = 600
ROTATION_OVERLAP = timedelta(hours=24)
_AUDIT_SCOPE = "*"  # the deployment's journal: a client may serve many schools


@dataclass(frozen=True)
class IntegrationClient:
    """One registered outside system (never its secret)."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    claims: tuple[str, ...]
    scopes: tuple[str, ...]
    region_id: str | None
    school_ids: tuple[str, ...]
    rate_per_minute: int
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    previous_secret_until: datetime | None
    initiate_login_uri: str | None = None

    @property
    def active(self) -> bool:
        """Whether it may still sign in, read and hear of anything."""
        return self.revoked_at is None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _record(row: Any) -> IntegrationClient:
    return IntegrationClient(
        client_id=row.client_id,
        name=row.name,
        redirect_uris=tuple(row.redirect_uris),
        claims=tuple(row.claims),
        scopes=tuple(row.scopes),
        region_id=row.region_id,
        school_ids=tuple(row.school_ids),
        rate_per_minute=row.rate_per_minute,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        previous_secret_until=row.previous_secret_until,
        initiate_login_uri=row.initiate_login_uri,
    )


def _public(client: IntegrationClient) -> dict[str, Any]:
    return {
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "initiate_login_uri": client.initiate_login_uri,
        "claims": list(client.claims),
        "scopes": list(client.scopes),
        "region_id": client.region_id,
        "school_ids": list(client.school_ids),
        "rate_per_minute": client.rate_per_minute,
    }


def _redirect_problem(uri: str) -> str | None:
    """Why ``uri`` may not receive authorization codes, or None (RFC 6749 §3.1.2, OAuth 2.0 BCP)."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.netloc:
        return "integration_redirect_invalid"
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        return "integration_redirect_not_https"
    return None


def _validated(
    conn: Connection,
    *,
    name: str,
    redirect_uris: Sequence[str],
    claims: Iterable[str],
    scopes: Iterable[str],
    region_id: str | None,
    school_ids: Sequence[str],
    rate_per_minute: int,
    initiate_login_uri: str | None,
) -> dict[str, Any]:
    errors: list[tuple[str, str]] = []
    name = name.strip()
    if not name or len(name) > 200:
        errors.append(("name", "integration_name_required"))
    uris = [u.strip() for u in redirect_uris if u.strip()]
    for uri in uris:
        if problem := _redirect_problem(uri):
            errors.append(("redirect_uris", problem))
            break
    start = (initiate_login_uri or "").strip() or None
    if start is not None and (len(start) > 2000 or _redirect_problem(start)):
        errors.append(("initiate_login_uri", "integration_start_invalid"))
    elif start is not None and not uris:
        errors.append(("initiate_login_uri", "integration_start_without_sign_in"))
    claims, scopes = sorted(set(claims)), sorted(set(scopes))
    if [c for c in claims if c not in CLAIMS]:
        errors.append(("claims", "integration_claim_unknown"))
    if [s for s in scopes if s not in SCOPES]:
        errors.append(("scopes", "integration_scope_unknown"))
    if not uris and not scopes:
        errors.append(("scopes", "integration_does_nothing"))
    if not 1 <= rate_per_minute <= 100_000:
        errors.append(("rate_per_minute", "integration_rate_invalid"))
    wanted = sorted(set(school_ids))
    if wanted:
        found = conn.execute(select(schools.c.school_id, schools.c.region_id).where(schools.c.school_id.in_(wanted)))
        known = {row.school_id: row.region_id for row in found}
        if len(known) != len(wanted) or (region_id is not None and set(known.values()) != {region_id}):
            errors.append(("school_ids", "integration_school_outside"))
    if errors:
        raise DomainError(errors[0][1], f"integration client refused: {errors}", errors=errors)
    return {
        "name": name,
        "redirect_uris": uris,
        "initiate_login_uri": start,
        "claims": claims,
        "scopes": scopes,
        "region_id": region_id,
        "school_ids": wanted,
        "rate_per_minute": rate_per_minute,
    }


def create_client(
    conn: Connection,
    *,
    name: str,
    actor: str,
    now: datetime,
    redirect_uris: Sequence[str] = (),
    claims: Iterable[str] = (),
    scopes: Iterable[str] = (),
    region_id: str | None = None,
    school_ids: Sequence[str] = (),
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    initiate_login_uri: str | None = None,
) -> tuple[IntegrationClient, str]:
    """Register an outside system; its record and its secret, which is never shown again.

    Raises :class:`DomainError` naming each field at fault (a redirect URI or the sign-in start
    address that is not https, a claim or scope that does not exist, a school outside the region).
    """
    values = _validated(
        conn,
        name=name,
        redirect_uris=redirect_uris,
        claims=claims,
        scopes=scopes,
        region_id=region_id,
        school_ids=school_ids,
        rate_per_minute=rate_per_minute,
        initiate_login_uri=initiate_login_uri,
    )
    client_id = "mk_" + secrets.token_urlsafe(12)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(integration_clients).values(
            client_id=client_id, secret_hash=_digest(secret), created_by=actor, created_at=now, **values
        )
    )
    client = get_client(conn, client_id)
    assert client is not None
    write_audit(
        conn, _AUDIT_SCOPE, actor, now, [AuditEntry("create", "integration_client", client_id, None, _public(client))]
    )
    return client, secret


def get_client(conn: Connection, client_id: str) -> IntegrationClient | None:
    """The registered system ``client_id`` (revoked or not), or None."""
    row = conn.execute(select(integration_clients).where(integration_clients.c.client_id == client_id)).first()
    return None if row is None else _record(row)


def list_clients(
    conn: Connection, *, region_id: str | None = None, everything: bool = False
) -> list[IntegrationClient]:
    """The systems a region's administrator manages (``region_id``), or every one (``everything``), by name."""
    query = select(integration_clients).order_by(integration_clients.c.name, integration_clients.c.client_id)
    if not everything:
        query = query.where(integration_clients.c.region_id == region_id)
    return [_record(row) for row in conn.execute(query)]


def authenticate(conn: Connection, client_id: str, secret: str, now: datetime) -> IntegrationClient | None:
    """The active client whose secret (or previous secret, within its overlap) is ``secret``, or None."""
    row = conn.execute(select(integration_clients).where(integration_clients.c.client_id == client_id)).first()
    given = _digest(secret)
    if row is None:
        hmac.compare_digest(given, _digest("no client has this secret"))  # the same work either way
        return None
    good = hmac.compare_digest(given, row.secret_hash)
    if not good and row.previous_secret_hash is not None and row.previous_secret_until is not None:
        good = now < row.previous_secret_until and hmac.compare_digest(given, row.previous_secret_hash)
    if not good or row.revoked_at is not None:
        return None
    return _record(row)


def rotate_secret(
    conn: Connection, client_id: str, *, actor: str, now: datetime, overlap: timedelta = ROTATION_OVERLAP
) -> str:
    """A new secret for ``client_id``; the current one keeps working for ``overlap``."""
    client = get_client(conn, client_id)
    if client is None or not client.active:
        raise DomainError("integration_client_unknown", f"no active integration client {client_id!r}")
    secret = secrets.token_urlsafe(32)
    current = conn.execute(
        select(integration_clients.c.secret_hash).where(integration_clients.c.client_id == client_id)
    ).scalar_one()
    conn.execute(
        update(integration_clients)
        .where(integration_clients.c.client_id == client_id)
        .values(secret_hash=_digest(secret), previous_secret_hash=current, previous_secret_until=now + overlap)
    )
    after = {"secret_rotated_at": now.isoformat(), "previous_secret_until": (now + overlap).isoformat()}
    write_audit(conn, _AUDIT_SCOPE, actor, now, [AuditEntry("update", "integration_client", client_id, None, after)])
    return secret


def revoke_client(conn: Connection, client_id: str, *, actor: str, now: datetime) -> None:
    """Stop ``client_id`` at once: no sign-in, token or webhook from now on (idempotent)."""
    client = get_client(conn, client_id)
    if client is None:
        raise DomainError("integration_client_unknown", f"no integration client {client_id!r}")
    if not client.active:
        return
    conn.execute(
        update(integration_clients)
        .where(integration_clients.c.client_id == client_id)
        .values(revoked_at=now, revoked_by=actor)
    )
    write_audit(
        conn,
        _AUDIT_SCOPE,
        actor,
        now,
        [AuditEntry("delete", "integration_client", client_id, _public(client), None)],
    )


def may_serve_school(conn: Connection, client: IntegrationClient, school_id: str) -> bool:
    """Whether ``client`` is active and ``school_id`` is within its reach."""
    if not client.active:
        return False
    if client.school_ids:
        return school_id in client.school_ids
    if client.region_id is None:
        return conn.execute(select(schools.c.school_id).where(schools.c.school_id == school_id)).first() is not None
    region = conn.execute(select(schools.c.region_id).where(schools.c.school_id == school_id)).scalar()
    return region == client.region_id


def schools_served(conn: Connection, client: IntegrationClient) -> list[str]:
    """Every school ``client`` may serve now, by id (none when revoked)."""
    if not client.active:
        return []
    if client.school_ids:
        return list(client.school_ids)
    query = select(schools.c.school_id).order_by(schools.c.school_id)
    if client.region_id is not None:
        query = query.where(schools.c.region_id == client.region_id)
    return list(conn.execute(query).scalars())
