"""The protocol, by Authlib's authorization server: what Mektep stores and decides, Authlib the rest.

Authlib checks the requests (client, redirect URI, response type, PKCE, nonce, prompt) and makes
the responses and the ID token; this module gives it the outside systems of
``integration_clients`` as OAuth clients, the authorization codes (SHA-256, single use, 5
minutes), the access tokens for userinfo (SHA-256, 10 minutes), the signing key, and the claims of
a student. PKCE with S256 is required of every client, confidential or not (OAuth 2.0 Security
BCP). Unknown scopes are ignored, as OpenID Connect asks; a scope only gives the claims the client
was registered for, and only those the student agreed to.

Authlib's callbacks take no connection: the request's transaction is :data:`CONNECTION`, set by
:func:`in_transaction` around each call into the server.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet
from sqlalchemy import Connection, insert, select, update
from starlette.responses import Response

from cloud_api.db.schema import oidc_codes, oidc_tokens
from cloud_api.integrations.clients import IntegrationClient, authenticate, get_client, may_serve_school
from cloud_api.integrations.oidc.grants import grant_in_force
from cloud_api.integrations.oidc.http import starlette_response
from cloud_api.integrations.oidc.keys import ALGORITHM, key_set, pairwise_subject, signing_key
from cloud_api.integrations.oidc.students import Student, claims_of, student_of

__all__ = [
    "CODE_TTL",
    "CONNECTION",
    "ID_TOKEN_TTL",
    "SCOPE_CLAIMS",
    "TOKEN_TTL",
    "MektepProvider",
    "RelyingParty",
    "SignedIn",
    "in_transaction",
    "offered_claims",
]

CODE_TTL = timedelta(minutes=5)
TOKEN_TTL = timedelta(minutes=10)
ID_TOKEN_TTL = timedelta(hours=1)
# The scopes a platform may ask for, and the claims each gives (if the platform was registered for
# them and the student agreed). Any other scope (email, phone, address, "iin"…) is ignored.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "locale"),
    "name": ("name",),
    "school": ("school",),
    "class": ("class",),
    "role": ("role",),
    "locale": ("locale",),
}
SCOPES_SUPPORTED = ("openid", *SCOPE_CLAIMS)
CONNECTION: ContextVar[Connection] = ContextVar("oidc_connection")
NOW: ContextVar[datetime] = ContextVar("oidc_now")
# What one request has read already: Authlib asks for the client and the key more than once.
_READ: ContextVar[dict[str, Any]] = ContextVar("oidc_read")


@contextmanager
def in_transaction(conn: Connection, now: datetime | None = None) -> Iterator[None]:
    """Let the server's callbacks use ``conn`` (and ``now``) for what runs inside."""
    tokens = CONNECTION.set(conn), NOW.set(now or datetime.now(UTC)), _READ.set({})
    try:
        yield
    finally:
        CONNECTION.reset(tokens[0])
        NOW.reset(tokens[1])
        _READ.reset(tokens[2])


def _client(client_id: str) -> IntegrationClient | None:
    read = _READ.get()
    if ("client", client_id) not in read:
        read["client", client_id] = get_client(CONNECTION.get(), client_id)
    return read["client", client_id]  # type: ignore[no-any-return]


def _signing_key() -> Any:
    read = _READ.get()
    if "key" not in read:
        read["key"] = signing_key(CONNECTION.get(), NOW.get())
    return read["key"]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def offered_claims(client: IntegrationClient, scope: str | None) -> tuple[str, ...]:
    """The claims a request for ``scope`` may give ``client``: asked for, and registered for."""
    asked = {claim for name in (scope or "").split() for claim in SCOPE_CLAIMS.get(name, ())}
    return tuple(c for c in client.claims if c in asked)


class RelyingParty(ClientMixin):  # type: ignore[misc]
    """An outside system of ``integration_clients`` as Authlib's OAuth client."""

    def __init__(self, client: IntegrationClient) -> None:
        self.record = client
        # RP-initiated logout may send the browser back to any of its registered redirect URIs.
        self.client_metadata = {"post_logout_redirect_uris": list(client.redirect_uris)}

    def get_client_id(self) -> str:
        """Its public id."""
        return self.record.client_id

    def get_default_redirect_uri(self) -> str | None:
        """None: OpenID Connect requires the request to name its redirect URI."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """``openid`` and the asked scopes that give a claim it was registered for; the rest ignored."""
        kept = ["openid"] if "openid" in (scope or "").split() else []
        for name in (scope or "").split():
            if name in SCOPE_CLAIMS and set(SCOPE_CLAIMS[name]) & set(self.record.claims) and name not in kept:
                kept.append(name)
        return " ".join(kept)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exactly one of its registered URIs (no prefix, no wildcard)."""
        return redirect_uri in self.record.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """Its secret (or, during a rotation's overlap, the previous one)."""
        return authenticate(CONNECTION.get(), self.record.client_id, client_secret, NOW.get()) is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """A secret, in the Authorization header or the form: every platform is a confidential client."""
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        """The authorization code flow only."""
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        """Authorization codes only: no refresh tokens (a platform signs the student in again)."""
        return grant_type == "authorization_code"


@dataclass
class SignedIn:
    """A student signed in to a platform: who, with what they agreed to share, and since when."""

    student: Student
    client: IntegrationClient
    claims: tuple[str, ...]
    auth_time: datetime

    def get_user_id(self) -> str:
        """Authlib's user id: the account's (never shown to a platform)."""
        return self.student.get_user_id()


@dataclass
class StoredCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """An authorization code as it was spent."""

    client_id: str
    account_id: UUID
    redirect_uri: str
    scope: str
    claims: tuple[str, ...]
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    auth_time: datetime

    def get_redirect_uri(self) -> str:
        """Where it was sent."""
        return self.redirect_uri

    def get_scope(self) -> str:
        """What it was for."""
        return self.scope

    def get_nonce(self) -> str | None:
        """The relying party's nonce, echoed in the ID token."""
        return self.nonce

    def get_auth_time(self) -> int:
        """When the student signed in to Mektep."""
        return int(self.auth_time.timestamp())

    def get_acr(self) -> None:
        """No authentication context class is claimed."""
        return None

    def get_amr(self) -> None:
        """No authentication methods are claimed."""
        return None


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """The code flow with codes stored hashed and spent once."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        """Keep the code's hash with what the token request will need."""
        user: SignedIn = request.user
        now = NOW.get()
        CONNECTION.get().execute(
            insert(oidc_codes).values(
                code_hash=_digest(code),
                client_id=request.client.get_client_id(),
                account_id=user.student.account_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                claims=list(user.claims),
                nonce=request.payload.data.get("nonce"),
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data.get("code_challenge_method") or "S256",
                auth_time=user.auth_time,
                expires_at=now + CODE_TTL,
            )
        )

    def query_authorization_code(self, code: str, client: RelyingParty) -> StoredCode | None:
        """The client's unexpired code, spent now: a second use finds nothing (even if this one then fails)."""
        now = NOW.get()
        row = (
            CONNECTION.get()
            .execute(
                update(oidc_codes)
                .where(
                    oidc_codes.c.code_hash == _digest(code),
                    oidc_codes.c.client_id == client.get_client_id(),
                    oidc_codes.c.used_at.is_(None),
                    oidc_codes.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(*[oidc_codes.c[name] for name in StoredCode.__dataclass_fields__])
            )
            .first()
        )
        if row is None:
            return None
        values = dict(row._mapping)
        values["claims"] = tuple(values["claims"])
        return StoredCode(**values)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Nothing: the code was spent when it was read."""

    def authenticate_user(self, authorization_code: StoredCode) -> SignedIn | None:
        """The student again (still a student of a school the client may serve), with the claims they agreed to."""
        conn = CONNECTION.get()
        student = student_of(conn, authorization_code.account_id)
        client = _client(authorization_code.client_id)
        if student is None or client is None or not client.active:
            return None
        if not may_serve_school(conn, client, student.school_id):
            return None
        return SignedIn(student, client, authorization_code.claims, authorization_code.auth_time)


class S256Required(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, with S256 only (``plain`` reveals the verifier to whoever sees the request)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        """Refuse an authorization request without an S256 code challenge."""
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE with S256 is required", redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


class MektepOpenIDCode(OpenIDCode):  # type: ignore[misc]
    """OpenID Connect on the code flow: an ID token signed by the key in force, pairwise subject, agreed claims."""

    DEFAULT_EXPIRES_IN = int(ID_TOKEN_TTL.total_seconds())

    def __init__(self, issuer: str) -> None:
        super().__init__(require_nonce=False)
        self.issuer = issuer

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        """False: a nonce is the relying party's check, and a code (which carries it) is spent once."""
        return False

    def resolve_client_private_key(self, client: RelyingParty) -> Any:
        """The signing key in force."""
        return _signing_key()

    def get_client_algorithm(self, client: RelyingParty) -> str:
        """RS256, which every relying party accepts."""
        return ALGORITHM

    def get_encode_header(self, client: RelyingParty) -> dict[str, str]:
        """The algorithm and the key's id, so a relying party picks the right key of the JWKS."""
        return {"alg": ALGORITHM, "kid": str(_signing_key().kid)}

    def get_client_claims(self, client: RelyingParty) -> dict[str, Any]:
        """Issuer, audience, and times from the request's clock."""
        now = int(NOW.get().timestamp())
        return {"iss": self.issuer, "aud": client.get_client_id(), "iat": now, "exp": now + self.DEFAULT_EXPIRES_IN}

    def generate_user_info(self, user: SignedIn, scope: str) -> UserInfo:
        """The pairwise subject and the agreed claims: never the IIN, whatever was asked."""
        subject = pairwise_subject(CONNECTION.get(), user.client, user.student.account_id)
        return UserInfo(sub=subject, **claims_of(user.student, user.claims))


class MektepEndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout: the ID token hint is checked against the JWKS; ending the session is the caller's."""

    def get_server_jwks(self) -> KeySet:
        """The published keys (a token signed before a rotation still names its signer)."""
        return key_set(CONNECTION.get(), NOW.get())

    def get_algorithms(self) -> list[str]:
        """RS256 only."""
        return [ALGORITHM]

    def end_session(self, end_session_request: Any) -> None:
        """Nothing here: the route ends the browser's Mektep session (it holds the cookie)."""


class MektepProvider(AuthorizationServer):  # type: ignore[misc]
    """Authlib's authorization server for Mektep's platforms; the HTTP side is :mod:`.http`'s."""

    def __init__(self, issuer: str) -> None:
        super().__init__(scopes_supported=None)  # unknown scopes are ignored, not refused
        self.issuer = issuer
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda *args, **kwargs: secrets.token_urlsafe(32),
                expires_generator=int(TOKEN_TTL.total_seconds()),
            ),
        )
        self.register_grant(AuthorizationCodeGrant, [S256Required(required=True), MektepOpenIDCode(issuer)])
        self.register_endpoint(MektepEndSession)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        """The request as the route built it (:func:`.http.oauth2_request`)."""
        if not isinstance(request, OAuth2Request):
            raise TypeError("build the request with cloud_api.integrations.oidc.http.oauth2_request")
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        """Authlib's answer as a Starlette response."""
        return starlette_response(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: nothing listens."""

    def query_client(self, client_id: str) -> RelyingParty | None:
        """The active outside system registered for sign-in (with redirect URIs), or None."""
        client = _client(client_id) if client_id else None
        if client is None or not client.active or not client.redirect_uris:
            return None
        return RelyingParty(client)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Keep the access token's hash, for userinfo, with the agreed claims."""
        user: SignedIn = request.user
        CONNECTION.get().execute(
            insert(oidc_tokens).values(
                token_hash=_digest(token["access_token"]),
                client_id=request.client.get_client_id(),
                account_id=user.student.account_id,
                claims=list(user.claims),
                expires_at=NOW.get() + timedelta(seconds=int(token["expires_in"])),
            )
        )

    def userinfo(self, access_token: str) -> dict[str, Any] | None:
        """What ``/oidc/userinfo`` answers for a bearer token: the subject and the agreed claims; None if refused."""
        conn, now = CONNECTION.get(), NOW.get()
        row = conn.execute(
            select(oidc_tokens).where(oidc_tokens.c.token_hash == _digest(access_token), oidc_tokens.c.expires_at > now)
        ).first()
        if row is None:
            return None
        client = get_client(conn, row.client_id)
        student = student_of(conn, row.account_id)
        if client is None or not client.active or student is None:
            return None
        agreed = grant_in_force(conn, row.account_id, row.client_id)
        if agreed is None:  # withdrawn since: the platform learns nothing more
            return None
        # What the token was for, still agreed to and still registered (an administrator may have narrowed it).
        claims = [c for c in row.claims if c in agreed.claims and c in client.claims]
        return {"sub": pairwise_subject(conn, client, row.account_id), **claims_of(student, claims)}

    def discovery(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0)."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/end-session",
            "scopes_supported": list(SCOPES_SUPPORTED),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                *sorted({c for claims in SCOPE_CLAIMS.values() for c in claims}),
            ],
            "ui_locales_supported": ["kk", "ru", "en"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
        }
