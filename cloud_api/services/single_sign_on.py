"""Single sign-on from outside (Order No. 456 §9): any OpenID Connect provider the deployment names.

The cloud is a relying party (Authlib's OAuth 2.0 client, the ID token checked with joserfc against
the provider's published keys). A provider is configured by its issuer, the client id and secret it
gave us, and the claim that names our account: ``email`` by default, taken only when the provider
says it is verified. Kazakhstan's eGov has no public OpenID Connect endpoint today; the day it does,
one entry of ``MEKTEP_CLOUD_SIGN_IN_PROVIDERS`` adds it, with the claim it vouches for.

The flow is the authorization code with PKCE (S256), a nonce, and a state bound to the browser's
half-done sign-in (the hash of its cookie's token: a callback from another browser is refused). On
the way back the provider's user is found by its subject (``external_identities``), else by the
named claim among the logins, and linked once. Single sign-on replaces the password, not the second
factor: staff still give their code.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Connection, delete, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import external_identities
from cloud_api.services.accounts import account_by_login, get_account, normalise_login
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.settings import SignInProvider

__all__ = ["Started", "finish", "link_account", "start", "state_of"]

_DISCOVERY_TTL_S = 3600
_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and what to keep until it comes back (the nonce and the PKCE verifier)."""

    url: str
    nonce: str
    verifier: str


def state_of(pending_token: str) -> str:
    """The ``state`` of a sign-in begun by the browser holding ``pending_token``: bound to it, revealing nothing."""
    return hashlib.sha256(b"sso-state:" + pending_token.encode()).hexdigest()[:43]


def _discovery(issuer: str) -> dict[str, Any]:
    cached = _discovered.get(issuer)
    if cached is not None and time.monotonic() - cached[0] < _DISCOVERY_TTL_S:
        return cached[1]
    try:
        answer = httpx.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10)
        answer.raise_for_status()
        document: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError) as failed:
        raise DomainError("sso_failed", f"discovery of {issuer}: {failed}") from None
    if document.get("issuer") != issuer:
        raise DomainError("sso_failed", f"the provider at {issuer} names itself {document.get('issuer')}")
    _discovered[issuer] = (time.monotonic(), document)
    return document


def _client(provider: SignInProvider, redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret.get_secret_value(),
        redirect_uri=redirect_uri,
        scope="openid email",
        code_challenge_method="S256",
        timeout=10,
    )


def start(provider: SignInProvider, redirect_uri: str, state: str) -> Started:
    """The provider's authorization URL for a new sign-in (blocking: discovery may fetch)."""
    document = _discovery(provider.issuer)
    nonce = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(32)
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            document["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
        )
    return Started(url, nonce, verifier)


def finish(provider: SignInProvider, redirect_uri: str, code: str, nonce: str, verifier: str) -> dict[str, Any]:
    """The verified claims of the provider's ID token for ``code`` (blocking); ``sso_failed`` otherwise."""
    document = _discovery(provider.issuer)
    try:
        with _client(provider, redirect_uri) as client:
            tokens = client.fetch_token(document["token_endpoint"], code=code, code_verifier=verifier)
            # Most providers put the profile's claims (the e-mail) in the userinfo answer, not the ID token.
            userinfo = client.get(document["userinfo_endpoint"]).json() if "userinfo_endpoint" in document else {}
        keys = KeySet.import_key_set(httpx.get(document["jwks_uri"], timeout=10).json())
        token = jwt.decode(tokens["id_token"], keys, algorithms=_ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
            leeway=60,
        )
        registry.validate(token.claims)
    except (JoseError, OAuthError, httpx.HTTPError, KeyError, ValueError) as failed:
        raise DomainError("sso_failed", f"{provider.issuer}: {failed}") from None
    claims = dict(token.claims)
    if userinfo.get("sub") == claims["sub"]:  # OpenID Connect Core §5.3.2: only the same user's claims
        claims = {**userinfo, **claims}
    return claims


def link_account(conn: Connection, name: str, provider: SignInProvider, claims: dict[str, Any], now: datetime) -> UUID:
    """Our account for the provider's user: linked before, else found by the named claim (verified) and linked now.

    ``sso_no_account`` when no account has that login: single sign-on signs in, it makes no accounts.
    """
    subject = str(claims["sub"])[:255]
    linked = conn.execute(
        select(external_identities.c.account_id).where(
            external_identities.c.subject == subject, external_identities.c.provider == name
        )
    ).scalar_one_or_none()
    if linked is not None:
        account = get_account(conn, linked)
        if account is not None and account.active:
            return linked  # type: ignore[no-any-return]
        # The linked account was disabled or deleted: the link is stale, look again by the claim.
        conn.execute(
            delete(external_identities).where(
                external_identities.c.subject == subject, external_identities.c.provider == name
            )
        )
    value = claims.get(provider.claim)
    # OpenID Connect names a *_verified flag for e-mail and phone: without it true, anyone could claim
    # a family's address at their provider. A claim with no such flag (an IIN) is the provider's word.
    verified = claims.get(f"{provider.claim}_verified")
    needs_flag = provider.claim in ("email", "phone_number") or verified is not None
    if not value or (needs_flag and verified is not True):
        raise DomainError("sso_no_account")
    try:
        account = account_by_login(conn, normalise_login(str(value)))
    except DomainError:
        account = None
    if account is None or not account.active:
        raise DomainError("sso_no_account")
    conn.execute(
        insert(external_identities).values(subject=subject, provider=name, account_id=account.id, linked_at=now)
    )
    entry = AuditEntry("update", "account", str(account.id), None, {"linked": f"{name}:{subject}"})
    write_audit(conn, account.school_id or "*", f"account:{account.id}", now, [entry])
    return account.id
