"""Photos of dishes (§33-1.3) and of people (the canteen's visual check). The caller owns the transaction.

A photo is never kept as it was uploaded: it is decoded and encoded anew without metadata
(:mod:`cloud_api.services.photo_reencode`), and only those bytes are stored, once, by their
SHA-256, which is also how the gateway asks for it and verifies what it got. A dish's photo is
public; a person's is personal data: served to staff of their school and to their school's
gateway only, and every change of it is in the audit journal.
"""

from __future__ import annotations

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
from cloud_api.services.photo_reencode import CONTENT_TYPE, Reencoded, reencode_photo
from cloud_api.services.roster_versions import next_version

__all__ = [
    "CONTENT_TYPES",
    "MAX_PHOTO_BYTES",
    "PHOTO_PATH",
    "SERVED_TYPE",
    "Photo",
    "PhotoKind",
    "Reencoded",
    "person_photos_of",
    "photo",
    "reencode_photo",
    "set_person_photo",
    "store_photo",
]

MAX_PHOTO_BYTES = 2 * 1024 * 1024  # a phone's photo, resized by the admin page; not a camera's RAW

# What an upload may be (recognised by decoding it: the declared Content-Type is not trusted). What
# is stored and served is always the re-encoded JPEG.
CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
SERVED_TYPE = CONTENT_TYPE


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


def store_photo(conn: Connection, school_id: str, image: Reencoded, kind: PhotoKind, *, actor: str) -> str:
    """Keep a re-encoded photo (:func:`reencode_photo`, called before the transaction) and return its SHA-256."""
    digest = image.sha256
    conn.execute(
        dialect_insert(conn, photos)
        .values(
            sha256=digest,
            school_id=school_id,
            kind=kind.value,
            content_type=image.content_type,
            data=image.data,
            at=datetime.now(UTC),
            actor=actor,
            reencoded=True,
        )
        # The same bytes already stored (by their hash) are these bytes: re-encoded, whoever wrote them.
        .on_conflict_do_update(index_elements=["sha256"], set_={"reencoded": True})
    )
    return digest


def photo(conn: Connection, digest: str) -> Photo | None:
    """A stored photo, or None: re-encoded bytes only (on upload, or by migration 0018 if stored before)."""
    found = conn.execute(
        select(photos.c.school_id, photos.c.kind, photos.c.content_type, photos.c.data).where(
            photos.c.sha256 == digest, photos.c.reencoded
        )
    ).first()
    if found is None:
        return None
    return Photo(found.school_id, PhotoKind(found.kind), found.content_type, bytes(found.data))


def set_person_photo(
    conn: Connection, school_id: str, person_id: UUID, image: Reencoded | None, *, actor: str
) -> str | None:
    """Give a student or staff member a photo (None removes it); its SHA-256. Audited, versioned."""
    known = conn.execute(
        select(people.c.id).where(people.c.school_id == school_id, people.c.id == person_id, people.c.active)
    ).first()
    if known is None:
        raise DomainError("unknown_person")
    digest = None if image is None else store_photo(conn, school_id, image, PhotoKind.PERSON, actor=actor)
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
