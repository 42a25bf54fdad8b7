"""The gate of the gateway's pages: who is this browser, and signing staff in or pairing a device.

When the pages listen on the school's network (an address that is not loopback), the canteen
screen and the events page open only to

- a canteen staff member signed in with their canteen PIN (the roster's PBKDF2 hash, checked
  offline): a cookie holding ``staff id . expiry . PIN fingerprint . HMAC`` for :data:`STAFF_SESSION`,
  signed with a key derived from the gateway's own key; a new PIN, or the staff member leaving the
  roster, ends it;
- or a paired device (see :mod:`gateway.access.store`): a cookie with a long random token, kept
  hashed, good until unpaired.

Guesses are limited: a staff member's wrong PINs (the canteen screen's own
:class:`~gateway.pages.canteen.PinGuard`, shared with the manual entry), and every address's wrong
PINs and codes, lock for a while; wrong pairing codes from all addresses together lock pairing.
Every outcome goes to the access journal.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from device_drivers.base import utcnow
from gateway.access import store
from gateway.access.store import Action, JournalRow
from gateway.pages.canteen import PinGuard
from gateway.storage import Storage
from shared.pins import verify_pin
from shared.roster_contract import RosterPerson

__all__ = [
    "DEVICE_COOKIE",
    "STAFF_COOKIE",
    "STAFF_SESSION",
    "LocalAccess",
    "Refused",
    "Visitor",
    "is_loopback",
    "session_key",
]

STAFF_COOKIE = "mektep_staff"
DEVICE_COOKIE = "mektep_device"
STAFF_SESSION = timedelta(hours=12)  # a school day; the canteen PC is signed in again the next morning
DEVICE_NAME_MAX = 60
ADDRESS_FAILURES, ADDRESS_LOCK = 10, timedelta(minutes=15)
PAIRING_FAILURES, PAIRING_LOCK = 20, timedelta(minutes=15)


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so ask for sign-in


def session_key(gateway_key: bytes) -> bytes:
    """The key that signs staff cookies, derived from the gateway's key (never the key itself)."""
    return hmac.new(gateway_key, b"mektep gateway local pages", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who a browser is: a staff member signed in by PIN, or a paired device."""

    staff_id: str | None = None
    staff_name: str | None = None
    device_id: int | None = None
    device_name: str | None = None

    @property
    def name(self) -> str:
        """What the pages show after "signed in as"."""
        return self.staff_name or self.device_name or ""


class Refused(Exception):
    """A sign-in or a pairing refused: ``code`` is a catalog message, ``status`` the HTTP answer."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


class LocalAccess:
    """Decides who may see the pages; ``required`` is False on loopback, where nobody is asked."""

    def __init__(
        self,
        *,
        required: bool,
        storage: Storage,
        key: bytes,
        people: Callable[[], Mapping[str, RosterPerson]],
        staff_guard: PinGuard | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.required = required
        self.storage = storage
        self._key = key
        self._people = people
        self.staff_guard = staff_guard or PinGuard()
        self.address_guard = PinGuard(ADDRESS_FAILURES, ADDRESS_LOCK)
        self.pairing_guard = PinGuard(PAIRING_FAILURES, PAIRING_LOCK)
        self.clock = clock

    def signers(self) -> list[RosterPerson]:
        """The staff who may sign in: active, with a canteen PIN on the roster."""
        people = self._people().values()
        return sorted((p for p in people if p.active and p.canteen_pin_hash), key=lambda p: p.display_name)

    # -- who is this ---------------------------------------------------------------------------

    async def visitor(self, cookies: Mapping[str, str]) -> Visitor | None:
        """The staff member or device the cookies prove, or None."""
        staff = self._staff_of(cookies.get(STAFF_COOKIE))
        if staff is not None:
            return Visitor(staff_id=str(staff.id), staff_name=staff.display_name)
        token = cookies.get(DEVICE_COOKIE)
        if token:
            device = await self.storage.call(lambda outbox: store.device_of(outbox.db, token))
            if device is not None:
                return Visitor(device_id=device.id, device_name=device.name)
        return None

    def _staff_of(self, cookie: str | None) -> RosterPerson | None:
        if not cookie or cookie.count(".") != 3:
            return None
        staff_id, expires, fingerprint, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(staff_id, expires, fingerprint)):
            return None
        if not expires.isdigit() or int(expires) < self.clock().timestamp():
            return None
        person = self._people().get(staff_id)
        if person is None or not person.active or not person.canteen_pin_hash:
            return None
        # A new PIN (or one taken away) ends the sessions opened with the old one.
        return person if hmac.compare_digest(fingerprint, _fingerprint(person.canteen_pin_hash)) else None

    def _mac(self, *parts: str) -> str:
        return hmac.new(self._key, ".".join(parts).encode(), hashlib.sha256).hexdigest()

    # -- signing in ----------------------------------------------------------------------------

    async def sign_in(self, staff_id: str, pin: str, address: str) -> tuple[str, RosterPerson]:
        """Check a staff member's PIN: the cookie value and the person, or :class:`Refused`."""
        now = self.clock()
        person = self._people().get(staff_id)
        known = person is not None and person.active and bool(person.canteen_pin_hash)
        who = staff_id if known else None  # the journal names roster staff only, never typed text
        for guard, key, code in (
            (self.address_guard, address, "address_locked"),
            (self.staff_guard, staff_id, "staff_locked"),
        ):
            if guard.locked(key, now):
                await self._journal(Action.LOCKED, staff_id=who, address=address)
                raise Refused(code, 429)
        # PBKDF2 takes a good part of a second by design: off the loop, or every reader waits.
        if not known or not await asyncio.to_thread(verify_pin, pin, person.canteen_pin_hash if person else None):
            self.address_guard.failed(address, now)
            if known:  # only roster staff are counted, so the guard cannot grow without end
                self.staff_guard.failed(staff_id, now)
            await self._journal(Action.WRONG_PIN, staff_id=who, address=address)
            raise Refused("wrong_pin", 403)
        assert person is not None and person.canteen_pin_hash is not None
        self.staff_guard.succeeded(staff_id)
        self.address_guard.succeeded(address)
        expires = str(int((now + STAFF_SESSION).timestamp()))
        fingerprint = _fingerprint(person.canteen_pin_hash)
        await self._journal(Action.SIGNED_IN, staff_id=staff_id, address=address)
        return ".".join([staff_id, expires, fingerprint, self._mac(staff_id, expires, fingerprint)]), person

    async def pair(self, code: str, name: str, address: str) -> str:
        """Pair this browser with a one-time code: its device token, or :class:`Refused`."""
        now = self.clock()
        if self.address_guard.locked(address, now) or self.pairing_guard.locked("all", now):
            await self._journal(Action.LOCKED, address=address)
            raise Refused("pairing_locked", 429)
        token = await self.storage.call(lambda outbox: store.redeem_code(outbox.db, code, name, address, now))
        if token is None:
            self.address_guard.failed(address, now)
            self.pairing_guard.failed("all", now)
            raise Refused("wrong_pairing_code", 403)
        return token

    async def sign_out(self, visitor: Visitor | None, address: str) -> None:
        """Journal a staff member leaving (a paired device stays paired until unpaired)."""
        if visitor is not None and visitor.staff_id is not None:
            await self._journal(Action.SIGNED_OUT, staff_id=visitor.staff_id, address=address)

    async def journal(self, limit: int = 20) -> list[JournalRow]:
        """The newest lines of the access journal."""
        return await self.storage.call(lambda outbox: store.latest_journal(outbox.db, limit))

    def staff_name(self, staff_id: str | None) -> str | None:
        """A staff member's name as the roster has it (for the journal's lines)."""
        person = self._people().get(staff_id or "")
        return None if person is None else person.display_name

    async def _journal(self, action: Action, **fields: str | None) -> None:
        now = self.clock()
        await self.storage.call(lambda outbox: store.journal(outbox.db, action, now, **fields))  # type: ignore[arg-type]


def _fingerprint(pin_hash: str) -> str:
    return hashlib.sha256(pin_hash.encode()).hexdigest()[:16]
