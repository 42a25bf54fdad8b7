"""Photos of dishes (§33-1.3) and of people (the canteen's visual check). The caller owns the transaction.

A photo is checked by its bytes (never the declared type) and stored once, by the SHA-256 of
its bytes, which is also how the gateway asks for it and verifies what it got. A dish's photo is
public; a person's is personal data: served to staff of their school and to their school's
gateway only, and every change of it is in the audit journal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import Connection, insert, select

from cloud_api.core.errors import DomainError
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import people, person_photos, photos
from cloud_api.services.audit import AuditEntry, write_audit
from cloud_api.services.history import in_force
from cloud_api.services.roster_versions import next_version

__all__ = [
    "CONTENT_TYPES",
    "MAX_PHOTO_BYTES",
    "PHOTO_PATH",
    "Photo",
    "PhotoKind",
    "person_photos_of",
    "photo",
    "set_person_photo",
    "sniff_image",
    "store_photo",
]

MAX_PHOTO_BYTES = 2 * 1024 * 1024  # a phone's photo, resized by the admin page; not a camera's RAW

# The first bytes of each format a browser shows: the declared Content-Type is not trusted.
CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")  # what a photo may be, recognised by its bytes
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


# Where a dish's photo is served to anyone (an <img> in the parent app carries no token): the
# ``photo_url`` of a dish. A person's photo is never served there.
PHOTO_PATH = "/v1/photos/{digest}"


class PhotoKind(StrEnum):
    """Whose photo: a dish's is public, a person's is not."""

    DISH = "dish"
    PERSON = "person"


class Photo(NamedTuple):
    """A stored photo."""

    school_id: str
    kind: PhotoKind
    content_type: str
    data: bytes


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes really are (JPEG, PNG or WebP), or None."""
    for magic, content_type in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def store_photo(conn: Connection, school_id: str, data: bytes, kind: PhotoKind, *, actor: str) -> str:
    """Keep a photo and return its SHA-256; ``DomainError`` for an oversized or non-image body."""
    if len(data) > MAX_PHOTO_BYTES:
        raise DomainError("photo_too_large")
    content_type = sniff_image(data)
    if content_type is None:
        raise DomainError("photo_type")
    digest = hashlib.sha256(data).hexdigest()
    conn.execute(
        dialect_insert(conn, photos)
        .values(
            sha256=digest,
            school_id=school_id,
            kind=kind.value,
            content_type=content_type,
            data=data,
            at=datetime.now(UTC),
            actor=actor,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return digest


def photo(conn: Connection, digest: str) -> Photo | None:
    """A stored photo, or None."""
    found = conn.execute(
        select(photos.c.school_id, photos.c.kind, photos.c.content_type, photos.c.data).where(photos.c.sha256 == digest)
    ).first()
    if found is None:
        return None
    return Photo(found.school_id, PhotoKind(found.kind), found.content_type, bytes(found.data))


def set_person_photo(
    conn: Connection, school_id: str, person_id: UUID, data: bytes | None, *, actor: str
) -> str | None:
    """Give a student or staff member a photo (None removes it); its SHA-256. Audited, versioned."""
    known = conn.execute(
        select(people.c.id).where(people.c.school_id == school_id, people.c.id == person_id, people.c.active)
    ).first()
    if known is None:
        raise DomainError("unknown_person")
    digest = None if data is None else store_photo(conn, school_id, data, PhotoKind.PERSON, actor=actor)
    before = person_photos_of(conn, school_id, [person_id]).get(person_id)
    if before == digest:
        return digest
    now = datetime.now(UTC)
    conn.execute(
        insert(person_photos).values(
            school_id=school_id,
            person_id=person_id,
            sha256=digest,
            version=next_version(conn, school_id),
            at=now,
            actor=actor,
        )
    )
    entry = AuditEntry("update", "person_photo", str(person_id), {"sha256": before}, {"sha256": digest})
    write_audit(conn, school_id, actor, now, [entry])
    return digest


def person_photos_of(conn: Connection, school_id: str, person_ids: Iterable[UUID] | None = None) -> dict[UUID, str]:
    """The photo in force per person (people without one are left out)."""
    return in_force(conn, person_photos, school_id, "person_id", "sha256", person_ids)
