"""Security events (Order No. 456 §5.20): one JSON-lines stream a SIEM collects, and syslog when configured.

The audit journal says what happened to a school's personal data; this stream says what a security
team watches: failed sign-ins and their bursts, refused or replayed packets, uses of the
deployment's admin token, role grants, second-factor resets and exports of personal data. It is a
second, append-only sink beside the journal, never a replacement for it.

Each event is one JSON object on one line::

    {"time": "2025-03-03T04:05:06.123456+00:00", "kind": "sign_in_failed", "outcome": "failure",
     "actor": "account:0193…", "source_ip": "10.0.0.7", "school": "demo-school",
     "target": "login", "details": {"reason": "bad_password", "login": "head@school.kz"}}

An event recorded with a connection inside a transaction is written when that transaction commits
and dropped when it rolls back: a role grant that was rolled back was never made. Writing never fails
a request: a sink that cannot take an event is logged and counted (``mektep_security_log_failures``),
and every event is counted by kind (``mektep_security_events``) whether or not a sink is configured.

The sink and the caller's address come from the request being answered (:class:`SecurityContext`,
an ASGI middleware) or from :func:`using_security_log` (the command line).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary, WeakSet

from sqlalchemy import Connection, event
from starlette.types import ASGIApp, Receive, Scope, Send

from cloud_api.core.metrics import SECURITY_EVENTS, SECURITY_LOG_FAILURES

__all__ = [
    "FACILITIES",
    "Kind",
    "Outcome",
    "SecurityContext",
    "SecurityEvent",
    "SecurityLog",
    "record_personal_export",
    "record_security_event",
    "syslog_address",
    "using_security_log",
]

_log = logging.getLogger(__name__)

# The facilities a security stream belongs to: auth/authpriv by the book, local0-7 for a site's own routing.
FACILITIES = {
    "auth": logging.handlers.SysLogHandler.LOG_AUTH,
    "authpriv": logging.handlers.SysLogHandler.LOG_AUTHPRIV,
    **{f"local{n}": getattr(logging.handlers.SysLogHandler, f"LOG_LOCAL{n}") for n in range(8)},
}
_APP_NAME = "mektep-cloud"


class Kind(StrEnum):
    """What kind of thing happened (the ``kind`` field, and the counter's label)."""

    SIGN_IN_FAILED = "sign_in_failed"  # one failed or refused attempt (password, code, a locked login)
    SIGN_IN_BURST = "sign_in_burst"  # the failure that locked a login from an address, or throttled an address
    PACKET_REFUSED = "packet_refused"  # a gateway's request refused as a whole (unsigned, bad, stale, replayed)
    ADMIN_TOKEN_USED = "admin_token_used"  # a request authenticated by the deployment's admin token
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    SECOND_FACTOR_RESET = "second_factor_reset"  # every second factor of an account removed
    PERSONAL_DATA_EXPORT = "personal_data_export"  # a file of people's data downloaded
    SSO_TOKEN_REFUSED = "sso_token_refused"  # a platform's token request refused (wrong secret, spent code)
    # An outside system refused: a token request that failed client authentication, an API call with
    # no valid token, or one outside its scopes or its schools.
    API_CLIENT_REFUSED = "api_client_refused"


class Outcome(StrEnum):
    """How it ended: done, a failed attempt, or refused before it was tried."""

    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"


@dataclass(frozen=True)
class SecurityEvent:
    """One security event; never holds a password, a token, a key or a card number."""

    kind: Kind
    outcome: Outcome
    time: datetime
    actor: str | None = None  # "account:<id>", "system" (the admin token), "gateway:<id>"
    source_ip: str | None = None
    school: str | None = None
    target: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The event as the stream writes it (time in UTC, ISO 8601)."""
        return {
            "time": self.time.astimezone(UTC).isoformat(),
            "kind": self.kind.value,
            "outcome": self.outcome.value,
            "actor": self.actor,
            "source_ip": self.source_ip,
            "school": self.school,
            "target": self.target,
            "details": dict(self.details),
        }

    def as_json(self) -> str:
        """One line of the stream (no newline in it: JSON escapes every control character)."""
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":"), default=str)


def syslog_address(value: str) -> tuple[str | tuple[str, int], int | None]:
    """The address and socket type of ``udp://host:port``, ``tcp://host:port`` or a unix socket path.

    ``ValueError`` naming what is wrong, so a mistyped setting fails at start-up.
    """
    if value.startswith("/"):
        return value, None  # a unix socket: datagram, else stream (as SysLogHandler tries)
    parts = urlsplit(value)
    kinds = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}
    if parts.scheme not in kinds or not parts.hostname:
        raise ValueError(f"security syslog must be udp://host:port, tcp://host:port or a socket path, not {value!r}")
    try:
        port = parts.port or 514
    except ValueError as error:
        raise ValueError(f"security syslog has a bad port: {value!r}") from error
    return (parts.hostname, port), kinds[parts.scheme]


class _Rfc5424(logging.Formatter):
    """``1 TIMESTAMP HOST APP PROCID MSGID - JSON`` after SysLogHandler's ``<PRI>``: RFC 5424 with a JSON message."""

    def __init__(self) -> None:
        super().__init__()
        self._host = socket.gethostname() or "-"

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        kind = getattr(record, "kind", "-")
        return f"1 {stamp} {self._host} {_APP_NAME} {os.getpid()} {kind} - {record.getMessage()}"


class _Syslog(logging.handlers.SysLogHandler):
    """A SysLogHandler whose failures are counted rather than printed."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed = True


class SecurityLog:
    """Where security events go: a JSON-lines file (appended, one write a line) and/or syslog."""

    def __init__(self, path: Path | None = None, syslog: str | None = None, facility: str = "authpriv") -> None:
        self.path = path
        self._syslog_address = syslog_address(syslog) if syslog else None
        self._facility = FACILITIES[facility]
        self._handler: _Syslog | None = None
        self._lock = threading.Lock()

    def write(self, event: SecurityEvent) -> None:
        """Append ``event`` to each sink; a sink that fails is logged and counted, never raised."""
        line = event.as_json()
        if self.path is not None:
            self._append(line)
        if self._syslog_address is not None:
            self._send(event, line)

    def _append(self, line: str) -> None:
        # Opened for each event: a file moved away by logrotate is made again, and O_APPEND keeps the
        # lines of several API processes whole (one write() each).
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)  # type: ignore[arg-type]
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError as error:
            SECURITY_LOG_FAILURES.labels("file").inc()
            _log.error("security event not written to %s: %s", self.path, error)

    def _send(self, event: SecurityEvent, line: str) -> None:
        record = logging.LogRecord(_APP_NAME, logging.WARNING, __file__, 0, line, None, None)
        record.kind = event.kind.value
        with self._lock:
            try:
                handler = self._handler or self._open()
            except OSError as error:  # a unix socket that is not there (yet)
                SECURITY_LOG_FAILURES.labels("syslog").inc()
                _log.error("security event not sent to syslog: %s", error)
                return
            handler.failed = False
            handler.handle(record)
            if handler.failed:
                SECURITY_LOG_FAILURES.labels("syslog").inc()
                _log.error("security event not sent to syslog %s", self._syslog_address[0])  # type: ignore[index]
                handler.close()
                self._handler = None  # connect again for the next one (a restarted collector)

    def _open(self) -> _Syslog:
        address, socktype = self._syslog_address  # type: ignore[misc]
        handler = _Syslog(address=address, facility=self._facility, socktype=socktype)
        handler.append_nul = False
        handler.setFormatter(_Rfc5424())
        self._handler = handler
        return handler

    def close(self) -> None:
        """Close the syslog connection, if one is open."""
        with self._lock:
            if self._handler is not None:
                self._handler.close()
                self._handler = None


_LOG: ContextVar[SecurityLog | None] = ContextVar("mektep_security_log", default=None)
_SOURCE_IP: ContextVar[str | None] = ContextVar("mektep_security_source_ip", default=None)


@contextmanager
def using_security_log(log: SecurityLog | None, source_ip: str | None = None) -> Iterator[None]:
    """Record the events of this block to ``log``, from ``source_ip`` unless an event names its own."""
    log_token, ip_token = _LOG.set(log), _SOURCE_IP.set(source_ip)
    try:
        yield
    finally:
        _LOG.reset(log_token)
        _SOURCE_IP.reset(ip_token)


class SecurityContext:
    """ASGI middleware: the events of a request go to the app's log, from the request's client address."""

    def __init__(self, app: ASGIApp, log: SecurityLog | None) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        with using_security_log(self.log, client[0] if client else None):
            await self.app(scope, receive, send)


# Events waiting for the commit of the transaction they were recorded in, by connection.
_PENDING: WeakKeyDictionary[Connection, list[tuple[SecurityLog | None, SecurityEvent]]] = WeakKeyDictionary()
_LISTENING: WeakSet[Connection] = WeakSet()


def record_security_event(
    kind: Kind,
    outcome: Outcome,
    *,
    actor: str | None = None,
    school: str | None = None,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
    source_ip: str | None = None,
    conn: Connection | None = None,
    at: datetime | None = None,
) -> SecurityEvent:
    """Record one security event; with ``conn`` in a transaction, only once (and if) that transaction commits.

    ``source_ip`` defaults to the address of the request being answered. Never raises for a sink.
    """
    made = SecurityEvent(
        kind,
        outcome,
        at or datetime.now(UTC),
        actor=actor,
        source_ip=source_ip if source_ip is not None else _SOURCE_IP.get(),
        school=school,
        target=target,
        details=dict(details or {}),
    )
    log = _LOG.get()
    if conn is not None and conn.in_transaction():
        if conn not in _LISTENING:
            # Left in place for the connection's life (removing a listener while it runs is refused).
            event.listen(conn, "commit", _flush)
            event.listen(conn, "rollback", _drop)
            _LISTENING.add(conn)
        _PENDING.setdefault(conn, []).append((log, made))
        return made
    _emit(log, made)
    return made


def record_personal_export(actor: str, school_id: str | None, name: str, kind: str, rows: int | None = None) -> None:
    """A file of people's data leaves the cloud: a security event (Order No. 456 §5.20), never its contents."""
    details: dict[str, Any] = {"file": name, "format": kind}
    if rows is not None:
        details["rows"] = rows
    record_security_event(
        Kind.PERSONAL_DATA_EXPORT, Outcome.SUCCESS, actor=actor, school=school_id, target=name, details=details
    )


def _emit(log: SecurityLog | None, made: SecurityEvent) -> None:
    SECURITY_EVENTS.labels(made.kind.value).inc()
    if log is not None:
        log.write(made)


def _flush(conn: Connection) -> None:
    for log, made in _PENDING.pop(conn, []):
        _emit(log, made)


def _drop(conn: Connection) -> None:
    _PENDING.pop(conn, None)
