"""Dish photos (§33-1.3): checked by their bytes, stored once by content hash. The caller owns the transaction."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import dish_photos
from cloud_api.services.errors import RosterError

__all__ = ["MAX_PHOTO_BYTES", "photo", "sniff_image", "store_photo"]

MAX_PHOTO_BYTES = 2 * 1024 * 1024  # a phone's photo, resized by the admin page; not a camera's RAW

# The first bytes of each format a browser shows: the declared Content-Type is not trusted.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (JPEG, PNG or WebP), or None."""
    for magic, content_type in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def store_photo(conn: Connection, school_id: str, data: bytes, *, actor: str) -> str:
    """Keep a photo and return its SHA-256; ``RosterError`` for an empty, oversized or non-image body."""
    if len(data) > MAX_PHOTO_BYTES:
        raise RosterError("photo_too_large")
    content_type = sniff_image(data)
    if content_type is None:
        raise RosterError("photo_type")
    digest = hashlib.sha256(data).hexdigest()
    conn.execute(
        dialect_insert(conn, dish_photos)
        .values(sha256=digest, school_id=school_id, content_type=content_type, data=data,
                at=datetime.now(UTC), actor=actor)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )  # fmt: skip
    return digest


def photo(conn: Connection, digest: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of a stored photo, or None."""
    row = conn.execute(select(dish_photos.c.content_type, dish_photos.c.data).where(dish_photos.c.sha256 == digest))
    found = row.first()
    return None if found is None else (found.content_type, bytes(found.data))
