"""The cloud's tables (SQLAlchemy Core). Alembic migrations create them; this is their shape.

Rows are keyed by school first so that a distributed PostgreSQL (Citus) can shard by school.
Instants are stored in UTC (``UTCDateTime``) with the event's own offset kept beside them, and the
local day (Asia/Almaty) is computed once at ingest: a "day" is never a UTC day.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from cloud_api.db.types import BigIntegerId, UTCDateTime

__all__ = ["events", "gateways", "metadata", "packets"]

metadata = MetaData()

gateways = Table(
    "gateways",
    metadata,
    Column("gateway_id", String(64), primary_key=True),
    Column("school_id", String(64), nullable=False),
    # The HMAC secret itself: verifying an HMAC needs it, so it cannot be stored as a hash.
    Column("key", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("gateway_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("person_id", String(64)),
    Column("credential_kind", String(32)),
    Column("credential_hash", String(64)),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("utc_offset_minutes", Integer, nullable=False),
    Column("local_date", Date, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("judged_without_roster", Boolean, nullable=False),
    Column("meal", JSON(none_as_null=True)),  # no meal is SQL NULL, not the JSON text 'null'
    Column("received_at", UTCDateTime(), nullable=False),
    Column("batch_id", BigInteger, nullable=False),
    Index("events_school_day", "school_id", "local_date"),
    Index("events_gateway_seq", "gateway_id", "seq"),
)

packets = Table(
    "packets",
    metadata,
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("direction", String(8), nullable=False),
    Column("gateway_id", String(64), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(256), nullable=False),
    Column("timestamp", String(32), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text),
    Column("accepted", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    # A signature seen twice for one gateway is a replay: the database, not a cache, remembers.
    UniqueConstraint("gateway_id", "signature", name="packets_gateway_signature"),
    # The retention sweep deletes by age.
    Index("packets_received_at", "received_at"),
)
