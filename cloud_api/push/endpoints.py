"""Which push endpoints the cloud posts to. A guardian's browser names the URL; the cloud posts to it
with its VAPID header, so an endpoint is checked when a device subscribes and again before each post
(what a name resolves to may have changed since):

    origin listed in push_service_origins        accepted (the simulator on 127.0.0.1 in tests and the demo)
    production, origin not listed                refused: not_listed
    not https                                    refused: not_https
    a user or password in the URL, not a URL     refused: malformed
    an IP address, or a name resolving to one,   refused: private_address (every address the name
      that is private, loopback, link-local,       resolves to must be public, and an IPv6 address
      multicast, reserved or unspecified           carrying an IPv4 one is judged by that too)
    a name that does not resolve                 refused: unresolved

An origin is ``scheme://host[:port]``; ``https://*.notify.windows.com`` stands for every subdomain of
``notify.windows.com`` (one label or more in front), not the domain itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from cloud_api.settings import CloudSettings

__all__ = [
    "DEFAULT_PUSH_SERVICE_ORIGINS",
    "EndpointPolicy",
    "Origin",
    "Problem",
    "endpoint_policy",
    "public_address",
]

# The push services of the browsers parents use: Chrome and the other Chromium browsers (FCM),
# Firefox, Safari (iOS 16.4+ and macOS), Edge (WNS, one host per region: wns2-par02p.notify.windows.com).
DEFAULT_PUSH_SERVICE_ORIGINS = (
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://web.push.apple.com",
    "https://*.notify.windows.com",
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ORIGIN = re.compile(r"^(https?)://(\*\.)?([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?/?$", re.IGNORECASE)
# NAT64 (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

Resolver = Callable[[str, int], list[str]]


class Problem(StrEnum):
    """Why an endpoint is not posted to (the label of the refusals' counter)."""

    MALFORMED = "malformed"
    NOT_HTTPS = "not_https"
    NOT_LISTED = "not_listed"
    PRIVATE_ADDRESS = "private_address"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True, slots=True)
class Origin:
    """A push service's origin; ``wildcard``: any subdomain of ``host``."""

    scheme: str
    host: str
    port: int
    wildcard: bool = False

    @classmethod
    def parse(cls, text: str) -> Origin:
        """``https://fcm.googleapis.com``, ``http://127.0.0.1:8443``, ``https://*.notify.windows.com``."""
        found = _ORIGIN.match(text.strip())
        if found is None:
            raise ValueError(f"{text!r} is not an origin: scheme://host[:port], '*.' allowed before the host")
        scheme, star, host, port = found.groups()
        if star and "." not in host:
            raise ValueError(f"{text!r}: a wildcard covers the subdomains of a domain, not of a top-level one")
        scheme = scheme.lower()
        return cls(scheme, host.lower().strip("[]"), int(port) if port else _DEFAULT_PORTS[scheme], bool(star))

    def admits(self, scheme: str, host: str, port: int) -> bool:
        """Whether an endpoint at ``scheme://host:port`` (host lowercased, ASCII) is of this origin."""
        if (scheme, port) != (self.scheme, self.port):
            return False
        if self.wildcard:
            return host.endswith("." + self.host) and len(host) > len(self.host) + 1
        return host == self.host


def public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a post to ``address`` leaves for the Internet (and not this host, its network or a cloud's
    metadata service); an IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) needs both."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if carried is None and address in _NAT64:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None and not public_address(carried):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (what the HTTP client would connect to); OSError if none."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True, slots=True)
class _Lookup:
    host: str
    port: int


class EndpointPolicy:
    """Judges endpoints: listed origins always pass; with ``listed_only`` (production) nothing else does,
    otherwise an https endpoint passes when every address of its host is public."""

    def __init__(self, origins: Iterable[str], *, listed_only: bool = False, resolve: Resolver = _resolve) -> None:
        self.origins = tuple(Origin.parse(o) for o in origins)
        self.listed_only = listed_only
        self._resolve = resolve

    def problem(self, endpoint: str) -> Problem | None:
        """Why ``endpoint`` must not be posted to, or None; may resolve a name (blocking)."""
        verdict = self._judge_url(endpoint)
        if not isinstance(verdict, _Lookup):
            return verdict
        try:
            found = self._resolve(verdict.host, verdict.port)
        except (OSError, UnicodeError):
            return Problem.UNRESOLVED
        return self._judge_addresses(found)

    async def problem_async(self, endpoint: str) -> Problem | None:
        """:meth:`problem`, with the name resolved off the event loop."""
        verdict = self._judge_url(endpoint)
        if not isinstance(verdict, _Lookup):
            return verdict
        try:
            found = await asyncio.to_thread(self._resolve, verdict.host, verdict.port)
        except (OSError, UnicodeError):
            return Problem.UNRESOLVED
        return self._judge_addresses(found)

    def _judge_url(self, endpoint: str) -> Problem | _Lookup | None:
        # Parsed as the HTTP client parses it, so the host judged is the host it connects to.
        try:
            url = httpx.URL(endpoint)
            scheme, host = url.scheme, url.raw_host.decode("ascii").lower()
            port = url.port or _DEFAULT_PORTS.get(scheme, 0)
        except (httpx.InvalidURL, UnicodeError, ValueError):
            return Problem.MALFORMED
        if scheme not in _DEFAULT_PORTS or not host or url.userinfo:
            return Problem.MALFORMED
        if any(origin.admits(scheme, host, port) for origin in self.origins):
            return None
        if self.listed_only:
            return Problem.NOT_LISTED
        if scheme != "https":
            return Problem.NOT_HTTPS
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return _Lookup(host, port)
        return None if public_address(literal) else Problem.PRIVATE_ADDRESS

    @staticmethod
    def _judge_addresses(found: list[str]) -> Problem | None:
        if not found:
            return Problem.UNRESOLVED
        for text in found:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                return Problem.PRIVATE_ADDRESS  # not an address we can judge (a scoped link-local one)
            if not public_address(address):
                return Problem.PRIVATE_ADDRESS
        return None


def endpoint_policy(settings: CloudSettings) -> EndpointPolicy:
    """The deployment's policy: its listed origins; in production only those."""
    return EndpointPolicy(settings.push_service_origins, listed_only=settings.environment == "production")
