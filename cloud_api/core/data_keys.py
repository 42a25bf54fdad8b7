"""Personal data encrypted at rest (Order No. 456 §10): AES-GCM per value, blind indexes to find it.

The settings hold a key-encryption key (``MEKTEP_CLOUD_DATA_KEY``, 32+ random bytes in base64) and,
while a rotation runs, the keys before it (``MEKTEP_CLOUD_DATA_KEY_PREVIOUS``). From each, HKDF-SHA256
derives two keys that never meet:

- the **data key**, AES-256-GCM: every value gets a random 96-bit nonce, and the associated data is
  the value's ``table.column``, so a ciphertext copied into another column (an IIN into an e-mail)
  does not decrypt. A stored value reads ``e1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``: the
  key id (from the key itself) says which key reads it, so the cloud reads any key it holds and
  writes with the current one;
- the **index key**, HMAC-SHA256 of the normalised value (``iin``, an e-mail in lower case…): the
  blind index a query compares instead of the value, which keeps "this school has this IIN once"
  a unique constraint and "find the person with this IIN" one indexed lookup.

Rotation and the blind index. A row's index is always under the key its ciphertext names:
``mektep cloud rotate-key`` re-encrypts a row and re-indexes it in one update. While a rotation
runs, rows of both keys exist, so a lookup asks for the value's index under every key the settings
hold (:meth:`DataKeys.indexes`: two hashes in an ``IN``), and the roster import, which reads the
school's rows first, matches a row whichever key indexed it. The unique constraint then holds within
each key's rows; a second row for an IIN that exists under the old key could only be written by a
process that skips that lookup, and none does. When the rotation has finished, the previous key can
leave the settings. (The alternative, an index key of its own rotated only with a full re-index,
would leave the index under a key nobody ever rotates.)

Development runs under :data:`DEVELOPMENT_DATA_KEY`, which is published here and protects nothing;
outside development the settings refuse to start without a key of their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DEVELOPMENT_DATA_KEY",
    "MIN_KEY_BYTES",
    "DataKey",
    "DataKeyError",
    "DataKeys",
    "development_keys",
    "is_encrypted",
    "key_id_of",
    "make_data_key",
    "parse_key",
]

PREFIX = "e1"
NONCE_BYTES = 12
MIN_KEY_BYTES = 32
# Published on purpose: a laptop's demo needs no setup, and nobody mistakes this for a secret.
DEVELOPMENT_DATA_KEY = base64.b64encode(hashlib.sha256(b"mektep-gate DEVELOPMENT data key, not a secret").digest())
DEVELOPMENT_DATA_KEY_TEXT = DEVELOPMENT_DATA_KEY.decode()


class DataKeyError(ValueError):
    """A key that cannot be used, or a stored value that no key held reads (with the reason)."""


def make_data_key() -> str:
    """A new key-encryption key: 32 random bytes in base64, what ``MEKTEP_CLOUD_DATA_KEY`` takes."""
    return base64.b64encode(os.urandom(MIN_KEY_BYTES)).decode()


def parse_key(text: str) -> bytes:
    """The key's bytes from its base64 (standard or url-safe); refused when short or plainly not random."""
    text = text.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None)
    except (binascii.Error, ValueError) as exc:
        raise DataKeyError("a data key is 32+ random bytes in base64 (mektep cloud make-data-key prints one)") from exc
    if len(raw) < MIN_KEY_BYTES:
        raise DataKeyError(f"a data key is {MIN_KEY_BYTES}+ random bytes in base64; this one has {len(raw)}")
    if len(set(raw)) < MIN_KEY_BYTES // 2:  # a repeated byte or a short pattern: not a random key
        raise DataKeyError("a data key must be random bytes (mektep cloud make-data-key prints one)")
    return raw


def _derive(kek: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mektep-gate " + purpose).derive(kek)


def key_id_of(kek: bytes) -> str:
    """The id a key's ciphertexts carry: 8 hex digits derived from the key (so it says nothing of it)."""
    return _derive(kek, b"key id v1").hex()[:8]


@dataclass(frozen=True)
class DataKey:
    """One key-encryption key's derived keys and id."""

    id: str
    cipher: AESGCM
    index_key: bytes

    @classmethod
    def from_kek(cls, kek: bytes) -> DataKey:
        """Derive the data key and the index key from ``kek``."""
        return cls(key_id_of(kek), AESGCM(_derive(kek, b"data key v1")), _derive(kek, b"blind index v1"))

    def index(self, purpose: str, value: str) -> str:
        """The blind index of ``value`` (already normalised) for ``purpose`` (``iin``, ``login``…)."""
        return hmac.new(self.index_key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


def is_encrypted(value: str) -> bool:
    """Whether a stored value is a ciphertext of this module (not a clear value from before 0028)."""
    return value.startswith(PREFIX + ":")


class DataKeys:
    """The keys the settings hold: the first writes; all read. Thread-safe (nothing changes)."""

    def __init__(self, current: bytes, previous: Iterable[bytes] = (), *, development: bool = False) -> None:
        self.current = DataKey.from_kek(current)
        self.development = development
        self.by_id = {self.current.id: self.current}
        for kek in previous:
            key = DataKey.from_kek(kek)
            self.by_id.setdefault(key.id, key)

    @property
    def ids(self) -> list[str]:
        """Every key's id, the current one first."""
        return list(self.by_id)

    def encrypt(self, where: str, value: str) -> str:
        """``value`` encrypted under the current key, bound to ``where`` (``table.column``)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.current.cipher.encrypt(nonce, value.encode(), where.encode())
        return f"{PREFIX}:{self.current.id}:{base64.urlsafe_b64encode(nonce + sealed).rstrip(b'=').decode()}"

    def key_of(self, stored: str) -> str:
        """The id of the key ``stored`` was written under."""
        parts = stored.split(":", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise DataKeyError("not an encrypted value: the database is older than migration 0028")
        return parts[1]

    def decrypt(self, where: str, stored: str) -> str:
        """The clear value of ``stored``; :class:`DataKeyError` saying why when no key held reads it."""
        key_id = self.key_of(stored)
        key = self.by_id.get(key_id)
        if key is None:
            raise DataKeyError(
                f"{where} was encrypted under data key {key_id}, which the settings do not hold (they hold "
                f"{', '.join(self.ids)}): set MEKTEP_CLOUD_DATA_KEY (or _PREVIOUS) to the key it was written with"
            )
        blob = stored.split(":", 2)[2]
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        try:
            return key.cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], where.encode()).decode()
        except InvalidTag as exc:
            raise DataKeyError(
                f"{where} does not decrypt under data key {key_id}: the value was altered or moved from another column"
            ) from exc

    def index(self, purpose: str, value: str) -> str:
        """The blind index of ``value`` under the current key: what a write stores."""
        return self.current.index(purpose, value)

    def indexes(self, purpose: str, value: str) -> list[str]:
        """Its blind index under every key held: what a lookup asks for (``IN``) during a rotation."""
        return [key.index(purpose, value) for key in self.by_id.values()]


def development_keys() -> DataKeys:
    """The keys of a development deployment: :data:`DEVELOPMENT_DATA_KEY` alone."""
    return DataKeys(parse_key(DEVELOPMENT_DATA_KEY_TEXT), development=True)
