"""Where a webhook may be posted: checked when a subscription is made and again before each round.

    https to a name whose every address is public    accepted
    http, or a private, loopback, link-local,         refused (``not_https``, ``private_address``):
      reserved or multicast address                     a receiver names a URL, the cloud posts to it,
                                                        and must not be turned against its own network
    a name that does not resolve                      refused (``unresolved``)
    a user or password in the URL, not a URL          refused (``malformed``)
    development only: http or https to loopback       accepted (a receiver on the developer's machine)

The address rules are the push endpoints' (:mod:`cloud_api.push.endpoints`). A name is resolved
again before each round of deliveries, so a name moved to a private address since is refused then;
a name that changes its answer between that check and the connection is not caught (the HTTP client
resolves on its own).
"""

from __future__ import annotations

import ipaddress

import httpx

from cloud_api.push.endpoints import EndpointPolicy, Resolver

__all__ = ["ReceiverPolicy"]

_LOOPBACK_NAMES = ("localhost",)


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ReceiverPolicy:
    """Judges receiver URLs; ``development`` also lets http and https to this machine through."""

    def __init__(self, *, development: bool = False, resolve: Resolver | None = None) -> None:
        self.development = development
        self._endpoints = EndpointPolicy(()) if resolve is None else EndpointPolicy((), resolve=resolve)

    def _local(self, url: str) -> bool | None:
        """True: a loopback URL development accepts; None: not a URL at all."""
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii").lower().strip("[]")
        except (httpx.InvalidURL, UnicodeError, ValueError):
            return None
        if parsed.scheme not in ("http", "https") or not host or parsed.userinfo:
            return None
        return self.development and _loopback(host)

    def problem(self, url: str) -> str | None:
        """Why ``url`` must not be posted to, or None (may resolve a name: blocking)."""
        if len(url) > 2000:
            return "malformed"
        local = self._local(url)
        if local is None:
            return "malformed"
        if local:
            return None
        problem = self._endpoints.problem(url)
        return None if problem is None else problem.value

    async def problem_async(self, url: str) -> str | None:
        """:meth:`problem`, with the name resolved off the event loop."""
        local = self._local(url)
        if local is None:
            return "malformed"
        if local:
            return None
        problem = await self._endpoints.problem_async(url)
        return None if problem is None else problem.value
