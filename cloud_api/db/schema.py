"""The cloud's tables (SQLAlchemy Core). Alembic migrations create them; this is their shape.

Rows are keyed by school first so that a distributed PostgreSQL (Citus) can shard by school.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
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

__all__ = ["events", "gateways", "metadata", "packets"]

metadata = MetaData()

gateways = Table(
    "gateways",
    metadata,
    Column("gateway_id", String(64), primary_key=True),
    Column("school_id", String(64), nullable=False),
    Column("key", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("gateway_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("person_id", String(64)),
    Column("credential_kind", String(32)),
    Column("credential_hash", String(64)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("utc_offset_minutes", Integer, nullable=False),
    Column("local_date", Date, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("judged_without_roster", Boolean, nullable=False),
    Column("meal", JSON),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("batch_id", Integer, nullable=False),
    Index("events_school_day", "school_id", "local_date"),
    Index("events_gateway_seq", "gateway_id", "seq"),
)

packets = Table(
    "packets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("direction", String(8), nullable=False),
    Column("gateway_id", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(256), nullable=False),
    Column("timestamp", String(32), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text),
    Column("accepted", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    UniqueConstraint("gateway_id", "signature", name="packets_gateway_signature"),
)
