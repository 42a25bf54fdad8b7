"""Canteen staff PINs: hashed with PBKDF2-HMAC-SHA256, in one text format the cloud can share.

    pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>

The cloud hashes a PIN when a staff member sets it; the roster carries only the hash
(:attr:`~shared.roster_contract.RosterPerson.canteen_pin_hash`); the gateway checks a PIN typed
at the canteen screen against it, offline. A PIN is short, so the
hash is slow on purpose: check it off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["DEFAULT_ITERATIONS", "SCHEME", "hash_pin", "verify_pin"]

SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP's figure for PBKDF2-HMAC-SHA256 (2023)
# A roster row is data: a hash claiming a billion rounds must not hold the gateway for minutes.
_MAX_ITERATIONS = 5_000_000


def hash_pin(pin: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """The PIN's hash in the ``pbkdf2_sha256$…`` format, with a fresh 16-byte salt unless given."""
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise ValueError(f"iterations must be within 1..{_MAX_ITERATIONS}")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, encoded: str | None) -> bool:
    """True when ``pin`` matches ``encoded``; False for a wrong PIN and for a malformed hash."""
    if not encoded:
        return False
    try:
        scheme, rounds, salt_hex, digest_hex = encoded.split("$")
        iterations = int(rounds)
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != SCHEME or not 1 <= iterations <= _MAX_ITERATIONS or not expected:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations, dklen=len(expected))
    return hmac.compare_digest(actual, expected)
