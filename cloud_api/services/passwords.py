"""Passwords: what may be one (NIST SP 800-63B), and hashing them without letting a flood take the memory.

The policy follows SP 800-63B §3.1.1.2. A password has at least ``MIN_CHARS_STAFF`` (12) characters
for anyone who works with other people's data (school staff, a region, the ministry, the
deployment), and ``MIN_CHARS_FAMILY`` (8) for guardians and students. There are no composition
rules: any characters, spaces and Kazakh letters included. It is refused when it contains the login,
or when it is easy to guess. Easy to guess means among the common and breached passwords that
``zxcvbn`` ships (30,000 of them, and its dictionaries), or made only of repeats, sequences and
keyboard walks (zxcvbn score below 2, that is fewer than 10⁶ guesses). Ten spaces and `1234567890`
are refused; so is `qwertyuiop`.

Hashing is argon2id with 64 MiB of memory per hash. Forty hashes at once would need 2.5 GiB, so at
most ``slots`` hashes run at the same time in a process, on threads of their own at a lower CPU
priority. The rest wait their turn
(:class:`HashSlots`, on the event loop, so a waiting sign-in holds no thread), and past
``max_waiting`` they are told to come back (``busy``, 503 with Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cloud_api.core.errors import DomainError

__all__ = [
    "MAX_CHARS",
    "MIN_CHARS_FAMILY",
    "MIN_CHARS_STAFF",
    "HashSlots",
    "bound_hashes",
    "check_password",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

MIN_CHARS_STAFF = 12
MIN_CHARS_FAMILY = 8
MAX_CHARS = 256  # a passphrase fits; a megabyte of "password" is not one
_MIN_SCORE = 2
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])

# argon2id, 64 MiB, 3 passes (RFC 9106's second recommendation). The test suite lowers the cost
# through the environment, as Django's test runner swaps in a fast hasher: thousands of accounts are
# made and signed in there, and what it checks is who gets in, not how long a guess takes.
_HASHER = PasswordHasher(
    memory_cost=int(os.environ.get("MEKTEP_PASSWORD_HASH_MEMORY_KIB", "65536")),
    time_cost=int(os.environ.get("MEKTEP_PASSWORD_HASH_TIME_COST", "3")),
)
# Every hash in the process, whoever asks for it, runs on one of these threads: the memory bound holds
# even for a hash that did not come through the sign-in's gate (an administrator creating accounts).
# They run at a lower CPU priority (nice 10): under a flood of sign-ins the event loop, /healthz and
# every other request still get the processor first.
_NICE = 10


def _lower_priority() -> None:
    # Not Linux, or not allowed: the hashes run at the normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICE)


def _pool(slots: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(slots, thread_name_prefix="password-hash", initializer=_lower_priority)


_HASHES = _pool(max(1, (os.cpu_count() or 2) - 1))


def bound_hashes(slots: int) -> None:
    """Let at most ``slots`` hashes run at once in this process (the app sets it from its settings)."""
    global _HASHES
    _HASHES = _pool(slots)


_T = TypeVar("_T")


def check_password(password: str, login: str, *, staff: bool) -> None:
    """Refuse a password the policy does not allow, with the reason as a ``DomainError``.

    Codes: ``password_too_short`` (with ``{n}``, the minimum), ``password_too_long``,
    ``password_contains_login``, ``password_too_common``.
    """
    minimum = MIN_CHARS_STAFF if staff else MIN_CHARS_FAMILY
    if len(password) < minimum:
        raise DomainError("password_too_short", n=minimum)
    if len(password) > MAX_CHARS:
        raise DomainError("password_too_long", n=MAX_CHARS)
    lowered = password.lower()
    if any(part in lowered for part in _login_parts(login)):
        raise DomainError("password_contains_login")
    if lowered.strip() in _COMMON or zxcvbn(password[:100], user_inputs=_login_parts(login))["score"] < _MIN_SCORE:
        raise DomainError("password_too_common")


def _login_parts(login: str) -> list[str]:
    # The login as typed and what identifies a person in it: an e-mail's name, a phone's last 10 digits.
    login = login.strip().lower()
    parts = {login}
    if "@" in login:
        parts.add(login.split("@", 1)[0])
    digits = "".join(c for c in login if c.isdigit())
    if len(digits) >= 10:
        parts.add(digits[-10:])
    return [p for p in parts if len(p) >= 4]


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (blocking, bounded: call it off the event loop)."""
    return _HASHES.submit(_HASHER.hash, password).result()


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (False for a malformed hash too); blocking, bounded."""
    return _HASHES.submit(_verify, stored, password).result()


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(stored)


class HashSlots:
    """A turn at hashing for each request that may hash, awaited on the event loop.

    ``run(fn, *args)`` waits for a free slot (``slots`` at once), then runs ``fn`` in a worker thread.
    With ``max_waiting`` requests already waiting, it refuses at once with ``busy``: a flood gets a
    quick answer to come back, not a queue that grows without end.
    """

    def __init__(self, slots: int, max_waiting: int) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._max_waiting = max_waiting
        self._waiting = 0

    async def run(self, fn: Callable[..., _T], *args: object) -> _T:
        """``fn(*args)`` in a thread, once a slot is free; ``DomainError("busy")`` when too many wait."""
        if self._waiting >= self._max_waiting:
            raise DomainError("busy")
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await run_in_threadpool(fn, *args)
        finally:
            self._slots.release()
