"""Mosquitto password files, hashed with hashlib: nothing shells out to ``mosquitto_passwd``.

A line is ``user:$7$<iterations>$<salt>$<hash>`` (salt and hash in standard base64): PBKDF2-HMAC-SHA512
with a 12-byte random salt and a 64-byte key. That is what ``mosquitto_passwd`` of mosquitto 2.x
writes by default and what its broker checks; the older ``$6$`` (one round of salted SHA-512) is
accepted too but is no better than a plain hash, so it is never written here.

    password_line("canteen-1", secret)   -> "canteen-1:$7$10000$…$…"
    password_file_text({"gw-1": s1, "canteen-1": s2})
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Mapping

__all__ = ["ITERATIONS", "SALT_BYTES", "USERNAME", "hash_password", "password_file_text", "password_line"]

# The broker derives the key on every CONNECT, in its only thread: 100,000 rounds cost ~0.1 s each
# here, so a broker restart (every terminal reconnecting at once) would stall all clients for
# seconds. Our passwords are long random strings, where stretching adds little; 10,000 rounds is
# still a hundred times mosquitto_passwd's default of 101.
ITERATIONS = 10_000
SALT_BYTES = 12  # as mosquitto_passwd
# A user name goes into "user:hash" lines and "user NAME" ACL lines: no colon, space or line break.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: Callable[[int], bytes] = os.urandom) -> str:
    """The ``$7$`` hash of ``password`` with a fresh salt (``salt(n)`` gives n random bytes)."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    raw_salt = salt(SALT_BYTES)
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), raw_salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(raw_salt).decode()}${base64.b64encode(key).decode()}"


def password_line(
    user: str, password: str, *, iterations: int = ITERATIONS, salt: Callable[[int], bytes] = os.urandom
) -> str:
    """One line of the password file, without its line break; ``ValueError`` for a bad user name."""
    if not USERNAME.match(user):
        raise ValueError(f"{user!r} cannot be a broker user name (letters, digits, '.', '_', '-'; at most 64)")
    return f"{user}:{hash_password(password, iterations=iterations, salt=salt)}"


def password_file_text(users: Mapping[str, str], *, iterations: int = ITERATIONS) -> str:
    """The whole password file for ``users`` (name → password), one line each, in the given order."""
    return "".join(password_line(name, secret, iterations=iterations) + "\n" for name, secret in users.items())
