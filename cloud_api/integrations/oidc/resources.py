"""The digital resources a student can open with single sign-on (§33-1.13), as their own page lists them.

A resource is a registered platform that signs students in (it has redirect URIs), is not revoked,
and whose reach covers the student's school. For each: whether the student agreed to what it
learns, whether a guardian withdrew it (then the provider refuses the sign-in until the guardian
allows it again), and the address that starts the sign-in there: its ``initiate_login_uri`` with
``iss`` (OpenID Connect Core §4, third-party initiated login), so that the platform begins the
authorization code flow with this provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.schema import schools
from cloud_api.integrations.clients import IntegrationClient, list_clients
from cloud_api.integrations.oidc.grants import platforms_of

__all__ = ["Resource", "resources_of", "start_address"]


@dataclass(frozen=True)
class Resource:
    """A platform the student may open: its name, where they stand with it, and where to start."""

    client_id: str
    name: str
    agreed: bool  # an agreement in force: the platform asks nothing at the next sign-in
    blocked: bool  # a guardian withdrew it: no sign-in until they allow it again
    start_url: str | None  # None: the platform starts the sign-in only on its own site


def start_address(initiate_login_uri: str, issuer: str) -> str:
    """The platform's sign-in start address with ``iss`` added (its own query kept)."""
    parts = urlsplit(initiate_login_uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("iss", issuer)])))


def _reaches(client: IntegrationClient, school_id: str, region_id: str | None) -> bool:
    # cloud_api.integrations.clients.may_serve_school's rule, with the school's region read once.
    if client.school_ids:
        return school_id in client.school_ids
    return client.region_id is None or client.region_id == region_id


def resources_of(conn: Connection, account_id: UUID, school_id: str, issuer: str) -> list[Resource]:
    """Every platform the student of ``account_id`` (of ``school_id``) may sign in to, by name."""
    school = conn.execute(select(schools.c.region_id).where(schools.c.school_id == school_id)).first()
    if school is None:
        return []  # a school the deployment has not placed yet is in no platform's reach
    standing = {p.client_id: p for p in platforms_of(conn, account_id)}
    found = []
    for client in list_clients(conn, everything=True):
        if not client.active or not client.redirect_uris or not _reaches(client, school_id, school.region_id):
            continue
        platform = standing.get(client.client_id)
        blocked = platform is not None and platform.blocked
        start = start_address(client.initiate_login_uri, issuer) if client.initiate_login_uri else None
        found.append(Resource(client.client_id, client.name, platform is not None and not blocked, blocked, start))
    return found
