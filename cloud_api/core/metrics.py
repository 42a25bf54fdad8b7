"""Prometheus counters of the cloud, in the process-wide default registry.

Defined once at import (not per app): Prometheus refuses a second metric of the same name, and
several apps in one test process share these counters.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "DATABASE_UNAVAILABLE",
    "FREE_MEAL_CONFLICTS",
    "HEARTBEATS",
    "INGEST_EVENTS",
    "INGEST_REFUSED",
    "INGEST_SECONDS",
    "INTEGRATION_CALLS",
    "INTEGRATION_RATE_LIMITED",
    "PHOTOS_REFUSED",
    "PUSH_ENDPOINTS_REFUSED",
    "ROSTER_FILES_REFUSED",
    "ROSTER_ROWS_REFUSED",
    "SECURITY_EVENTS",
    "SECURITY_LOG_FAILURES",
    "UNKNOWN_CREDENTIAL_KINDS",
    "WALLET_RECORDS",
]

INGEST_REFUSED = Counter(
    "mektep_ingest_refused", "Ingest requests refused before anything was stored, by reason", ["reason"]
)
DATABASE_UNAVAILABLE = Counter(
    "mektep_database_unavailable", "Requests answered 503 because the database or a Citus worker did not answer"
)
INGEST_EVENTS = Counter("mektep_ingest_events", "Events answered by ingest, by status", ["status"])
INGEST_SECONDS = Histogram(
    "mektep_ingest_seconds",
    "Time to verify, parse and store one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HEARTBEATS = Counter("mektep_heartbeats", "Gateway heartbeats stored (refused ones count in mektep_ingest_refused)")
UNKNOWN_CREDENTIAL_KINDS = Counter(
    "mektep_ingest_unknown_credential_kinds",
    "Events stored with a credential kind this cloud does not know yet (a gateway's newer reader), by kind",
    ["kind"],
)
FREE_MEAL_CONFLICTS = Counter(
    "mektep_free_meal_conflicts",
    "Free or discounted meals claimed a second time for the same child, day and period (counted once)",
)
WALLET_RECORDS = Counter(
    "mektep_wallet_records",
    "Social Wallet sends by outcome: delivered, rejected, unverified (a receipt whose signature failed), "
    "retry (not answered this round)",
    ["outcome"],
)

# A bad roster import gets a clear error and a counter, and the good rest goes on.
ROSTER_ROWS_REFUSED = Counter(
    "mektep_roster_rows_refused", "Rows of uploaded roster files not imported, by problem code", ["code"]
)
ROSTER_FILES_REFUSED = Counter(
    "mektep_roster_files_refused", "Roster uploads refused as a whole (type, size, unusable file), by code", ["code"]
)

# A push endpoint the cloud will not post to: refused when a device subscribes, or dropped before a
# post (its name now resolves to a private address), or a push service that answered with a redirect.
PUSH_ENDPOINTS_REFUSED = Counter(
    "mektep_push_endpoints_refused",
    "Push endpoints not posted to, by stage (subscribe, send) and problem (not_https, not_listed, "
    "private_address, unresolved, malformed, redirect)",
    ["stage", "problem"],
)

# A photo upload the cloud would not keep: too many bytes, not a JPEG, PNG or WebP, too many pixels, damaged.
PHOTOS_REFUSED = Counter(
    "mektep_photos_refused",
    "Photo uploads refused, by code (photo_too_large, photo_type, photo_too_many_pixels, photo_unreadable)",
    ["code"],
)

# Security events (Order No. 456 §5.20), counted whether or not a log file or syslog is configured;
# a write that failed (an unwritable file, an unreachable syslog) is counted apart and never fails a request.
SECURITY_EVENTS = Counter("mektep_security_events", "Security events recorded, by kind", ["kind"])
SECURITY_LOG_FAILURES = Counter(
    "mektep_security_log_failures", "Security events a sink could not take, by sink (file, syslog)", ["sink"]
)

INTEGRATION_CALLS = Counter(
    "mektep_integration_calls",
    "Calls of outside systems to the integrations API and its token endpoint, by route and status",
    ["route", "status"],
)
INTEGRATION_RATE_LIMITED = Counter(
    "mektep_integration_rate_limited", "Calls of outside systems refused over their limit a minute (429)"
)
