"""Every stored photo is re-encoded, or removed when it cannot be decoded; only re-encoded ones are served.

Until now a photo was kept as it was uploaded once its first bytes looked like a JPEG, PNG or WebP:
a PNG header followed by HTML, or 303 KB of PNG declaring 50,000 × 50,000 pixels, was stored and
served (a dish's to anyone). From this version every upload is decoded within a pixel bound and
encoded anew without metadata (``cloud_api.services.photo_reencode``), and this migration does the
same to the photos already stored:

- ``photos.reencoded`` is added, false by default, and only rows where it is true are served: a
  row an older API process writes during a rolling upgrade is never served.
- A photo that decodes is stored anew under the SHA-256 of its new bytes and its old row deleted
  (on Citus photos are distributed by ``sha256``: a row cannot change its hash, it moves).
- A photo that does not decode (not an image, damaged, too many pixels) is deleted.
- A person or dish whose photo in force was one of these gets a new history row with the school's
  next roster version, naming the new photo or no photo, so that a gateway's next roster pull
  fetches the new one (its own copy of the old one is no longer named). A person's change is in the
  audit journal, like any other. Older history rows keep the name they had: history is not rewritten.

One photo at a time (each is at most 2 MiB), in the migration's transaction: tens of milliseconds a
photo. Downgrade drops the flag only: the re-encoded photos are JPEGs the older version serves as they
are, and the removed ones stay removed.

Revision ID: 0018
Revises: 0017
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from cloud_api.core.errors import DomainError
from cloud_api.db.types import UTCDateTime
from cloud_api.services.photo_reencode import reencode_photo

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ACTOR = "migration:0018"
DISH_PHOTO_PATH = "/v1/photos/"  # a dish's photo_url is this and the photo's SHA-256

photos = sa.table(
    "photos",
    sa.column("sha256", sa.String),
    sa.column("school_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("content_type", sa.String),
    sa.column("data", sa.LargeBinary),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String),
    sa.column("reencoded", sa.Boolean),
)
person_photos = sa.table(
    "person_photos",
    sa.column("id", sa.BigInteger),
    sa.column("school_id", sa.String),
    sa.column("person_id", sa.Uuid()),
    sa.column("sha256", sa.String),
    sa.column("version", sa.BigInteger),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String),
)
dish_versions = sa.table(
    "dish_versions",
    sa.column("id", sa.BigInteger),
    sa.column("school_id", sa.String),
    sa.column("dish_id", sa.Uuid()),
    sa.column("names", sa.JSON),
    sa.column("price_tiyn", sa.BigInteger),
    sa.column("allergens", sa.JSON),
    sa.column("photo_url", sa.String),
    sa.column("version", sa.BigInteger),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String),
)
roster_versions = sa.table("roster_versions", sa.column("school_id", sa.String), sa.column("version", sa.BigInteger))
audit_log = sa.table(
    "audit_log",
    sa.column("school_id", sa.String),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("entity", sa.String),
    sa.column("entity_id", sa.String),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("photos") as table:
        table.add_column(sa.Column("reencoded", sa.Boolean, nullable=False, server_default=sa.false()))
    bind = op.get_bind()
    moved = _reencode_all(bind)
    if moved:
        now = datetime.now(UTC)
        for school_id in _schools_with_photos(bind):
            _repoint(bind, school_id, moved, now)


def downgrade() -> None:
    with op.batch_alter_table("photos") as table:
        table.drop_column("reencoded")


def _reencode_all(bind: sa.Connection) -> dict[str, str | None]:
    """Re-encode every photo; ``{old sha256: new sha256, or None when it could not be decoded}``."""
    moved: dict[str, str | None] = {}
    for digest in list(bind.execute(sa.select(photos.c.sha256)).scalars()):
        row = bind.execute(sa.select(photos).where(photos.c.sha256 == digest)).mappings().first()
        if row is None or row["reencoded"]:
            continue  # marked earlier in this loop as another photo's re-encoding: its bytes are clean
        try:
            image = reencode_photo(bytes(row["data"]))
        except DomainError:
            moved[digest] = None
            continue
        new = image.sha256
        if new == digest:
            _mark_reencoded(bind, digest, image.content_type)
            continue
        if _exists(bind, new):
            # Those very bytes are stored already (they hash alike): they are a re-encoding.
            _mark_reencoded(bind, new, image.content_type)
        else:
            values = {k: row[k] for k in ("school_id", "kind", "at", "actor")}
            bind.execute(
                sa.insert(photos).values(
                    sha256=new, content_type=image.content_type, data=image.data, reencoded=True, **values
                )
            )
        moved[digest] = new
    # Deleted only now: an old row may have turned out to be another's re-encoding, and stays.
    for digest in list(moved):
        if _exists(bind, digest, reencoded=True):
            del moved[digest]
        else:
            bind.execute(sa.delete(photos).where(photos.c.sha256 == digest))
    return moved


def _exists(bind: sa.Connection, digest: str, *, reencoded: bool | None = None) -> bool:
    query = sa.select(photos.c.sha256).where(photos.c.sha256 == digest)
    if reencoded is not None:
        query = query.where(photos.c.reencoded == reencoded)
    return bind.execute(query).first() is not None


def _mark_reencoded(bind: sa.Connection, digest: str, content_type: str) -> None:
    bind.execute(sa.update(photos).where(photos.c.sha256 == digest).values(reencoded=True, content_type=content_type))


def _schools_with_photos(bind: sa.Connection) -> list[str]:
    faces = sa.select(person_photos.c.school_id).where(person_photos.c.sha256.is_not(None))
    dishes = sa.select(dish_versions.c.school_id).where(dish_versions.c.photo_url.is_not(None))
    return sorted(set(bind.execute(faces.distinct()).scalars()) | set(bind.execute(dishes.distinct()).scalars()))


def _newest(bind: sa.Connection, table: Any, school_id: str, key: str) -> list[Any]:
    """The rows in force of a school's history table: the newest per ``key`` (on Citus, on the school's shard)."""
    newest = (
        sa.select(table.c.school_id, table.c[key], sa.func.max(table.c.id).label("id"))
        .where(table.c.school_id == school_id)
        .group_by(table.c.school_id, table.c[key])
        .subquery()
    )
    query = (
        sa.select(table)
        .join(newest, (table.c.school_id == newest.c.school_id) & (table.c.id == newest.c.id))
        .where(table.c.school_id == school_id)
    )
    return list(bind.execute(query).mappings())


def _dish_digest(photo_url: str | None) -> str | None:
    if photo_url is None or not photo_url.startswith(DISH_PHOTO_PATH):
        return None
    return photo_url.removeprefix(DISH_PHOTO_PATH)


def _repoint(bind: sa.Connection, school_id: str, moved: dict[str, str | None], now: datetime) -> None:
    """New history rows for the school's people and dishes whose photo in force moved, under one new version."""
    faces = [r for r in _newest(bind, person_photos, school_id, "person_id") if r["sha256"] in moved]
    dishes = [
        (row, digest)
        for row in _newest(bind, dish_versions, school_id, "dish_id")
        if (digest := _dish_digest(row["photo_url"])) is not None and digest in moved
    ]
    if not faces and not dishes:
        return
    version = bind.execute(
        sa.update(roster_versions)
        .where(roster_versions.c.school_id == school_id)
        .values(version=roster_versions.c.version + 1)
        .returning(roster_versions.c.version)
    ).scalar_one_or_none()
    if version is None:  # not seen: a school with history rows has taken roster versions
        version = 1
        bind.execute(sa.insert(roster_versions).values(school_id=school_id, version=version))
    stamp = {"school_id": school_id, "version": version, "at": now, "actor": ACTOR}
    for face in faces:
        new = moved[face["sha256"]]
        bind.execute(sa.insert(person_photos).values(person_id=face["person_id"], sha256=new, **stamp))
        bind.execute(
            sa.insert(audit_log).values(
                school_id=school_id,
                at=now,
                actor=ACTOR,
                action="update",
                entity="person_photo",
                entity_id=str(face["person_id"]),
                before={"sha256": face["sha256"]},
                after={"sha256": new},
            )
        )
    for dish, old in dishes:
        new = moved[old]
        copied = {k: dish[k] for k in ("dish_id", "names", "price_tiyn", "allergens")}
        url = None if new is None else DISH_PHOTO_PATH + new
        bind.execute(sa.insert(dish_versions).values(photo_url=url, **copied, **stamp))
