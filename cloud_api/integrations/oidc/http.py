"""Authlib's requests and responses for Starlette (Authlib ships integrations for Flask and Django only).

The route reads the body first (Starlette reads it asynchronously, Authlib synchronously) and
hands the parts over; the answer Authlib makes (status, body, headers) becomes a Starlette
response. The request's address is taken from the settings' public URL when there is one, so that
behind a TLS-terminating proxy Authlib sees the https address the browser used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, ImmutableMultiDict, QueryParams

__all__ = ["StarletteOAuth2Request", "oauth2_request", "starlette_response"]


class _Payload(OAuth2Payload):  # type: ignore[misc]
    """The request's parameters: the query and the form together (a form's value wins)."""

    def __init__(self, query: QueryParams, form: FormData | ImmutableMultiDict[str, Any]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in [*query.multi_items(), *form.multi_items()]:
            if isinstance(value, str):
                self._datalist[key].append(value)
        self._data = {key: values[-1] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        """Each parameter's value."""
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        """Each parameter's values (Authlib refuses a repeated one)."""
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """An Authlib request made of a Starlette request's already-read parts."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], query: QueryParams, form: FormData | None
    ) -> None:
        # TLS is the deployment's (its proxy's) concern; Authlib's check sees only an address, and
        # a development or test cloud's is http. It is shown the https form, then keeps the real one.
        super().__init__(method, "https" + uri[4:] if uri.startswith("http:") else uri, headers=headers)
        self.uri = uri
        self._query = query
        self._form = form if form is not None else ImmutableMultiDict()
        self.payload = _Payload(query, self._form)

    @property
    def args(self) -> QueryParams:
        """The query's parameters."""
        return self._query

    @property
    def form(self) -> dict[str, str]:
        """The form's parameters (one value each)."""
        return {key: value for key, value in self._form.items() if isinstance(value, str)}


def _public_uri(request: Request, public_url: str | None) -> str:
    if not public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_url.rstrip('/')}{request.url.path}{query}"


def oauth2_request(request: Request, form: FormData | None, public_url: str | None) -> StarletteOAuth2Request:
    """The Authlib request of ``request`` (its ``form`` read already, or None for a GET)."""
    return StarletteOAuth2Request(
        request.method, _public_uri(request, public_url), request.headers, request.query_params, form
    )


def starlette_response(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    """Authlib's answer as a Starlette response: JSON for a dict, else the body as it is."""
    if isinstance(body, dict):
        return JSONResponse(body, status_code=status, headers=dict(headers))
    return Response(body or b"", status_code=status, headers=dict(headers))
