"""The token endpoint of the OAuth 2.0 client credentials grant (RFC 6749 §4.4), on Authlib.

Authlib's :class:`~authlib.oauth2.rfc6749.AuthorizationServer` and
:class:`~authlib.oauth2.rfc6749.grants.ClientCredentialsGrant` do the protocol: the grant type,
client authentication (``client_secret_basic`` and ``client_secret_post``), the scope, and the
errors of §5.2. Authlib has no Starlette server integration, so this module is the small adapter:
the form the route has read becomes an Authlib request, a registered system
(:mod:`cloud_api.integrations.clients`) becomes an Authlib client, and the token is ours
(:mod:`cloud_api.integrations.tokens`): opaque, an hour, kept as SHA-256.

The server is made per request on the request's connection and clock: it is cheap (a few objects)
and holds nothing between requests. The secret is checked by the registry, so the previous secret
keeps working during a rotation's overlap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from sqlalchemy import Connection

from cloud_api.integrations.clients import SCOPES, IntegrationClient, authenticate, get_client
from cloud_api.integrations.tokens import TOKEN_TTL, issue_token

__all__ = ["AUTH_METHODS", "TokenAnswer", "TokenForm", "answer_token_request"]

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class TokenForm:
    """A token request as the route read it: the form's fields (each with all its values) and the headers."""

    fields: Sequence[tuple[str, str]]
    headers: Mapping[str, str]  # case-insensitive (Starlette's Headers)
    uri: str


@dataclass(frozen=True)
class TokenAnswer:
    """What the route answers: the status, the JSON body, the headers; and who asked, for the journal."""

    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]
    client_id: str | None  # the system that got a token, or None when refused
    claimed: str | None  # the client id the request named, refused or not


class _Payload(OAuth2Payload):
    def __init__(self, fields: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in fields:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):
    def __init__(self, form: TokenForm) -> None:
        super().__init__("POST", form.uri, headers=form.headers)
        self.payload = _Payload(form.fields)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data  # type: ignore[no-any-return]


class _Client(ClientMixin):  # type: ignore[misc]
    """A registered system as Authlib sees it: its secret checked by the registry."""

    def __init__(self, conn: Connection, record: IntegrationClient, now: datetime) -> None:
        self.conn, self.record, self.now = conn, record, now

    def get_client_id(self) -> str:
        return self.record.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        # The registry knows the previous secret and its overlap, and compares in constant time.
        return authenticate(self.conn, self.record.client_id, client_secret, self.now) is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        # A system registered only for single sign-on (no scope) gets no API token.
        return grant_type == "client_credentials" and bool(self.record.scopes)

    def get_allowed_scope(self, scope: str | None) -> str:
        wanted = scope_to_list(scope) if scope else list(self.record.scopes)
        return " ".join(s for s in wanted if s in self.record.scopes)


class _Grant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # Authlib checks the scope against the server's; a system gets only what it was given.
        asked = scope_to_list(self.request.payload.scope) or []
        if not set(asked) <= set(self.client.record.scopes):
            raise InvalidScopeError(description="The system may ask only for the scopes it was registered with.")


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, conn: Connection, now: datetime) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.conn, self.now = conn, now
        self.register_grant(_Grant)
        self.register_token_generator("default", self._token)

    def query_client(self, client_id: str) -> _Client | None:
        record = get_client(self.conn, client_id)
        # A revoked system is unknown to the protocol: invalid_client, as for a wrong id.
        return None if record is None or not record.active else _Client(self.conn, record, self.now)

    def _token(
        self, grant_type: str, client: _Client, user: Any = None, scope: str | None = None, **_: Any
    ) -> dict[str, Any]:
        scopes = sorted(set(client.get_allowed_scope(scope).split()))
        token, _expires = issue_token(self.conn, client.record, scopes, self.now)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(TOKEN_TTL.total_seconds()),
            "scope": " ".join(scopes),
        }

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        pass  # stored as it was made (only its hash), in the same transaction: see _token

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # no signals: the route journals the outcome

    def create_oauth2_request(self, request: TokenForm) -> OAuth2Request:
        return _Request(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, Any, list]:
        return status, body, headers


def answer_token_request(conn: Connection, form: TokenForm, now: datetime) -> TokenAnswer:
    """The token endpoint's answer to ``form``: a token (200) or an RFC 6749 §5.2 error, and who asked."""
    server = _Server(conn, now)
    request = _Request(form)
    status, body, headers = server.create_token_response(form)
    basic_id, _secret = extract_basic_authorization(form.headers)
    claimed = basic_id or request.payload.data.get("client_id")
    got = claimed if status == 200 else None
    return TokenAnswer(status, dict(body), list(headers), got, (claimed or "")[:64] or None)
