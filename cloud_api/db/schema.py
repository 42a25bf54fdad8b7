"""The cloud's tables (SQLAlchemy Core). Alembic migrations create them; this is their shape.

Every key holds the column its table is distributed by on Citus (``cloud_api.db.distribution``):
a school's rows by ``school_id``, an account's by its id. Where a table's key is a serial ``id``,
PostgreSQL's key is ``(school_id, id)`` (or the account's, or the login's: migration 0017) while
SQLite's stays ``id`` alone, the only spelling SQLite counts up.
Instants are stored in UTC (``UTCDateTime``) with the event's own offset kept beside them, and the
local day (Asia/Almaty) is computed once at ingest: a "day" is never a UTC day.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
    true,
)

from cloud_api.db.types import BigIntegerId, Encrypted, EncryptedJSON, EncryptedText, UTCDateTime, data_keys

__all__ = [
    "absence_reports",
    "account_logins",
    "accounts",
    "alerts",
    "allergen_bans",
    "audit_log",
    "balance_entries",
    "canteen_pins",
    "consents",
    "credentials",
    "daily_limits",
    "deployment_keys",
    "dish_versions",
    "events",
    "free_meals",
    "gateways",
    "guardianships",
    "iin_index",
    "iin_indexes",
    "integration_clients",
    "low_balance_notices",
    "low_balance_thresholds",
    "meal_ratings",
    "meal_rules",
    "metadata",
    "nedb_figures",
    "nedb_packets",
    "nedb_refusals",
    "nedb_schools",
    "notification_settings",
    "packets",
    "people",
    "person_photos",
    "photos",
    "push_queue",
    "push_subscriptions",
    "report_deliveries",
    "report_files",
    "report_warnings",
    "reports",
    "role_grants",
    "rollup_meal_eaters",
    "rollup_presence",
    "roster_versions",
    "school_hours",
    "schools",
    "sessions",
    "set_meals",
    "sign_in_attempts",
    "staff_push_subscriptions",
    "wallet_outbox",
    "wallet_receipts",
    "webhook_deliveries",
    "webhook_subscriptions",
]

metadata = MetaData()


def _history(name: str, *columns: Column) -> Table:  # type: ignore[type-arg]
    """An append-only history table: a change is a new row and the newest row is in force.

    So every price, menu, rule, ban, photo and PIN a school ever had stays readable: a change never
    silently overwrites history. Each change takes the school's next roster version (``version``).
    """
    return Table(
        name,
        metadata,
        Column("id", BigIntegerId, primary_key=True, autoincrement=True),
        Column("school_id", String(64), nullable=False),
        *columns,
        Column("version", BigInteger, nullable=False),
        Column("at", UTCDateTime(), nullable=False),
        Column("actor", String(128), nullable=False),
        Index(f"{name}_school_version", "school_id", "version"),
    )


# -- the deployment: schools, gateways, keys -------------------------------------------------------

# The schools of the deployment and their region: what a region's and the ministry's reports add up.
schools = Table(
    "schools",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("region_id", String(64), nullable=False),
    Index("schools_region", "region_id"),
)

gateways = Table(
    "gateways",
    metadata,
    Column("gateway_id", String(64), primary_key=True),
    Column("school_id", String(64), nullable=False),
    # The HMAC secret itself: verifying an HMAC needs it, so it cannot be stored as a hash; encrypted.
    Column("key", Encrypted("gateways.key", 512), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("gateways_school", "school_id"),  # a school's gateways, asked hourly of every school
)

# Keys of the deployment, made once by ``mektep cloud init``: the VAPID key that signs Web Push.
deployment_keys = Table(
    "deployment_keys",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("private_pem", EncryptedText("deployment_keys.private_pem"), nullable=False),
    Column("public", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# -- what gateways send: events, and every packet kept ---------------------------------------------

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
    Column("manual", JSON(none_as_null=True)),  # entered by hand: the staff member and the reason
    # What the reason names (migration 0039): the banned allergens or kinds of dish of a refused meal.
    Column("reason_detail", JSON(none_as_null=True)),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("batch_id", BigInteger, nullable=False),
    Index("events_school_day", "school_id", "local_date"),
    Index("events_gateway_seq", "gateway_id", "seq"),
    Index("events_school_person", "school_id", "person_id", "local_date"),  # a person's page in the office
    # The office's Today (refreshed every minute): the readers' last states, the day's meals.
    Index("events_school_kind_day", "school_id", "kind", "local_date"),
)

packets = Table(
    "packets",
    metadata,
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("school_id", String(64), nullable=False),  # the gateway's
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
    UniqueConstraint("school_id", "gateway_id", "signature", name="packets_school_gateway_signature"),
    # The retention sweep deletes by age.
    Index("packets_received_at", "received_at"),
    # Whether a gateway was heard from since a moment: asked hourly of every school's gateways.
    Index("packets_gateway_received_at", "gateway_id", "received_at"),
)

# -- the roster ------------------------------------------------------------------------------------

roster_versions = Table(
    "roster_versions",
    metadata,
    # Every change to a school's roster takes the next version; a gateway asks for what changed
    # after the version it holds (versioned deltas).
    Column("school_id", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
)


def iin_index(conn: Connection | Dialect, iin: str) -> str:
    """The blind index a people row stores for ``iin`` (under the current data key)."""
    return data_keys(conn).index("iin", iin.strip())


def iin_indexes(conn: Connection, iin: str) -> list[str]:
    """The blind indexes to look ``iin`` up by: under every data key held, while a rotation runs."""
    return data_keys(conn).indexes("iin", iin.strip())


def iin_index_default(context: Any) -> str:
    """An inserted person's ``iin_index``, from the ``iin`` inserted with it: no insert can forget it."""
    return iin_index(context.dialect, context.get_current_parameters()["iin"])


people = Table(
    "people",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    # Encrypted at rest (cloud_api.core.data_keys); found and kept unique by its blind index.
    Column("iin", Encrypted("people.iin", 96), nullable=False),
    Column("iin_index", String(64), nullable=False, default=iin_index_default),
    Column("role", String(16), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("middle_name", String(100)),
    Column("language", String(2)),
    Column("class_name", String(8)),
    Column("grade", Integer),
    Column("meal_category", String(16)),
    Column("discount_percent", Integer),
    Column("phone", Encrypted("people.phone", 96)),
    Column("email", Encrypted("people.email", 512)),
    Column("active", Boolean, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("school_id", "iin_index", name="people_school_iin_index"),
    Index("people_school_version", "school_id", "version"),
)

guardianships = Table(
    "guardianships",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("guardian_id", Uuid(), primary_key=True),
    Column("child_id", Uuid(), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    # A card (or a QR code) as the gateway will see it: only its keyed hash, never the number.
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("person_id", Uuid(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("credential_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # active | blocked | replaced
    Column("number_hint", String(8)),  # the number's last four digits, for telling cards apart
    Column("status_reason", String(16)),  # why it was blocked: lost | stolen | damaged | other
    Column("version", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("school_id", "credential_hash", name="credentials_school_hash"),
    Index("credentials_school_version", "school_id", "version"),
)

consents = Table(
    "consents",
    metadata,
    # Append-only (§33-1.1): the newest row of a child is the consent in force; the rest is history.
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("school_id", String(64), nullable=False),
    Column("child_id", Uuid(), nullable=False),
    Column("guardian_id", Uuid(), nullable=False),
    Column("given", Boolean, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("source", String(8)),  # app (NULL in rows before 0021) | paper
    Column("signed_on", Date),  # paper: the day the guardian signed it
    Column("reference", String(100)),  # paper: its number or reference in the school's files
    Column("actor", String(128)),  # paper: who recorded it
    # How the child may be identified: card (the consent to tracking itself, every row before 0040)
    # or qr (the Social Wallet's dynamic QR code); each method has its own newest row.
    Column("method", String(8), nullable=False, server_default="card"),
    Index("consents_school_child", "school_id", "child_id", "id"),
)

# Photos by the SHA-256 of their bytes: kept in the database so that any API process behind the
# load balancer can serve them, and addressed by content so that a URL never changes meaning. A
# dish's photo is public (the menu); a person's is personal data, served to their school only.
photos = Table(
    "photos",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("school_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # dish | person
    Column("content_type", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    # True: ``data`` is the cloud's own re-encoding (cloud_api.services.photo_reencode), the only
    # photos served. False by default, so that a row an older version wrote is never served.
    Column("reencoded", Boolean, nullable=False, server_default=false()),
)
person_photos = _history(
    "person_photos",
    Column("person_id", Uuid(), nullable=False),
    Column("sha256", String(64)),  # NULL: the photo was removed
    Index("person_photos_person", "school_id", "person_id", "id"),
)

# -- accounts, roles and the audit journal (Order No. 456 §5) --------------------------------------

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("login", String(254), nullable=False),  # an e-mail or a phone number, normalised
    Column("password_hash", String(255)),  # argon2id; NULL until a password is set: no sign-in
    # The people row of a guardian or staff member (people are keyed by school, hence both).
    Column("person_id", Uuid()),
    Column("school_id", String(64)),
    Column("active", Boolean, nullable=False),  # false: disabled (or deleted); it signs nobody in
    Column("created_at", UTCDateTime(), nullable=False),
    Column("display_name", String(200)),  # how lists show the account; None: the login
    Column("email", Encrypted("accounts.email", 512)),  # where a reset code goes when the login is a phone number
    # A guardian's own choice, or a guardian's for a child under 16 (§5.11); staff always need one.
    Column("second_factor_wanted", Boolean, nullable=False, server_default=false()),
    Column("deleted_at", UTCDateTime()),  # personal data removed; the row stays for the audit trail
    Index("accounts_school", "school_id"),
)

# Who holds each login: unique in the whole country, so keyed (and distributed) by the login itself,
# and written in the same transaction as the account (``accounts.login`` is its copy for display).
account_logins = Table(
    "account_logins",
    metadata,
    Column("login", String(254), primary_key=True),
    Column("account_id", Uuid(), nullable=False),
)

role_grants = Table(
    "role_grants",
    metadata,
    # Append-only (§5: access levels with change history): the newest row of an (account, role,
    # scope) says whether it is in force; a revocation is a row with granted false.
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("account_id", Uuid(), nullable=False),
    Column("role", String(16), nullable=False),
    Column("scope", String(64)),  # a region id, a school id, or NULL (the ministry)
    Column("granted", Boolean, nullable=False),
    Column("by", String(128), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("role_grants_account", "account_id", "id"),
)

sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    # Every attempt, good or bad (§5: failed logins viewable); the school of a known login is kept
    # so that a school's administrator sees the failures of their school's accounts only.
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("login", String(254), nullable=False),
    Column("account_id", Uuid()),
    Column("school_id", String(64)),
    Column("at", UTCDateTime(), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("ip", String(64)),
    # What attempts are counted by: the address, or an IPv6 client's /64 (``accounts.client_key``).
    Column("client", String(64)),
    Index("sign_in_attempts_login_at", "login", "at"),
    Index("sign_in_attempts_school_at", "school_id", "at"),
    Index("sign_in_attempts_client_at", "client", "at"),
)

sessions = Table(
    "sessions",
    metadata,
    # Only the SHA-256 of a bearer token: a leaked table signs nobody in.
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", Uuid(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    # "full", or a sign-in half done: "second_factor" (the password was right, a code is due) or
    # "enrol" (a staff member's first sign-in, enrolling a second factor). Only "full" opens anything.
    Column("stage", String(16), nullable=False, server_default="full"),
    # "staff": 12 h, ended after 30 minutes idle; "device": a family's phone, 30 days, its token rotated.
    Column("kind", String(16), nullable=False, server_default="staff"),
    Column("last_seen_at", UTCDateTime()),
    Column("method", String(32)),  # how it was opened: password, password+totp, passkey, oidc:<provider>…
    Column("ip", String(64)),
    Column("user_agent", String(200)),
    Column("challenge", String(128)),  # a pending WebAuthn challenge of this sign-in
    Index("sessions_account", "account_id"),
)

totp_secrets = Table(
    "totp_secrets",
    metadata,
    # RFC 6238: one authenticator per account. Enrolment writes the secret; the first right code
    # confirms it. ``last_step`` is the newest 30-second step a code was taken for: a code works once.
    Column("account_id", Uuid(), primary_key=True),
    Column("secret", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime()),
    Column("last_step", BigInteger),
    # A new phone being set up: the confirmed secret keeps working until this one is confirmed.
    Column("pending_secret", String(64)),
    Column("pending_at", UTCDateTime()),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    # Ten one-time codes given at enrolment, kept as SHA-256 (each is 50 random bits: no need to
    # stretch); a used one stays, with when.
    Column("account_id", Uuid(), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
)

passkeys = Table(
    "passkeys",
    metadata,
    # WebAuthn credentials: a second factor, or the whole sign-in for staff who have one.
    Column("account_id", Uuid(), primary_key=True),
    Column("credential_id", String(1400), primary_key=True),  # base64url of up to 1023 bytes
    Column("public_key", LargeBinary, nullable=False),  # COSE
    Column("sign_count", BigInteger, nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
)

one_time_codes = Table(
    "one_time_codes",
    metadata,
    # An activation code (a new account's letter) or a reset code (an administrator's or an e-mail's):
    # one pending per account and purpose, kept as SHA-256; it expires, works once and dies after
    # ``tries`` reaches five wrong ones.
    Column("account_id", Uuid(), primary_key=True),
    Column("purpose", String(16), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Column("tries", Integer, nullable=False, server_default="0"),
)

external_identities = Table(
    "external_identities",
    metadata,
    # Who an outside identity provider's user is here: (provider, subject) → account. Keyed by the
    # subject, like a login: looked up by it alone when the provider sends the user back.
    Column("subject", String(255), primary_key=True),
    Column("provider", String(64), primary_key=True),
    Column("account_id", Uuid(), nullable=False),
    Column("linked_at", UTCDateTime(), nullable=False),
    Index("external_identities_account", "account_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    # §5: every create, change and delete of personal data, who did it, when, before and after.
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("school_id", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(128), nullable=False),
    # Encrypted at rest (a roster import's or an IIN correction's IINs and contacts): read in Python only.
    Column("before", EncryptedJSON("audit_log.before")),
    Column("after", EncryptedJSON("audit_log.after")),
    Index("audit_log_school_at", "school_id", "at"),
    Index("audit_log_entity", "entity", "entity_id"),
    Index("audit_log_school_entity_id", "school_id", "entity_id"),  # a person's journal in the office
)

# §13: a school takes everything it has with it. An archive is asked for in the office and made by
# the background worker (a leased queue: pending until done or failed); its bytes apart, as a report's.
school_exports = Table(
    "school_exports",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("requested_by", String(128), nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("state", String(16), nullable=False),  # pending | done | failed
    Column("due_at", UTCDateTime()),  # the lease of the worker making it
    Column("progress", Integer, nullable=False),  # per cent
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("finished_at", UTCDateTime()),
    Column("error", String(200)),
    Index("school_exports_pending", "state", "requested_at"),
)
school_export_files = Table(
    "school_export_files",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# -- the canteen -----------------------------------------------------------------------------------
meal_rules = _history("meal_rules", Column("rules", JSON, nullable=False))
dish_versions = _history(
    "dish_versions",
    Column("dish_id", Uuid(), nullable=False),
    Column("names", JSON, nullable=False),
    Column("price_tiyn", BigInteger, nullable=False),
    Column("allergens", JSON, nullable=False),
    Column("photo_url", String(500)),
    Column("category", String(16)),  # None: stored before categories (migration 0023), read as "main"
    Index("dish_versions_dish", "school_id", "dish_id", "id"),
)
set_meals = _history(
    "set_meals",
    Column("day", Date, nullable=False),
    Column("period", String(64), nullable=False),
    Column("dish_ids", JSON, nullable=False),
    Column("price_tiyn", BigInteger, nullable=False),
    Index("set_meals_day", "school_id", "day", "period", "id"),
)
allergen_bans = _history(
    "allergen_bans",
    Column("child_id", Uuid(), nullable=False),
    Column("allergens", JSON, nullable=False),
    # The kinds of dish forbidden too (migration 0039; NULL in rows from before: none forbidden).
    Column("categories", JSON),
    Index("allergen_bans_child", "school_id", "child_id", "id"),
)
daily_limits = _history(
    "daily_limits",
    Column("child_id", Uuid(), nullable=False),
    Column("limit_tiyn", BigInteger),  # NULL: no limit
    Index("daily_limits_child", "school_id", "child_id", "id"),
)

# A canteen staff member's PIN for the canteen screen's manual entry, as its PBKDF2 hash only.
canteen_pins = _history(
    "canteen_pins",
    Column("person_id", Uuid(), nullable=False),
    Column("pin_hash", String(256)),  # NULL: the PIN was withdrawn
    Index("canteen_pins_person", "school_id", "person_id", "id"),
)

# The prepaid ledger: credits (an admin's top-up, a correction) take a roster version so that the
# gateway learns them; a charge is written at ingest from a paid meal's event, once per event, and
# takes none: the gateway counts its own charges (see gateway/rules.py).
balance_entries = Table(
    "balance_entries",
    metadata,
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("school_id", String(64), nullable=False),
    Column("person_id", Uuid(), nullable=False),
    Column("kind", String(16), nullable=False),  # top_up | correction | meal
    Column("amount_tiyn", BigInteger, nullable=False),  # + credit, - charge
    Column("event_id", Uuid()),
    Column("note", String(200)),  # a meal's period; a correction's reason
    Column("version", BigInteger),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
    # A top-up recorded in the office (migration 0026): how it was paid (cash | bank_transfer), its
    # receipt's number (once a school: a form sent twice never credits twice) and the day it was paid.
    Column("method", String(16)),
    Column("receipt", String(64)),
    Column("paid_on", Date),
    UniqueConstraint("school_id", "event_id", name="balance_entries_event"),
    Index("balance_entries_person", "school_id", "person_id", "id"),
    Index("balance_entries_school_version", "school_id", "version"),
    Index("balance_entries_receipt", "school_id", "receipt", unique=True),
)

# The free and discounted meals as the state pays for them: one per child, local day and period
# , whatever the gateways sent. The first event to claim a meal owns it; a second is
# still stored as what happened, and counted as a conflict, but never paid twice.
free_meals = Table(
    "free_meals",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("person_id", Uuid(), primary_key=True),
    Column("local_date", Date, primary_key=True),
    Column("period", String(64), primary_key=True),
    Column("event_id", Uuid(), nullable=False),
    Column("category", String(16), nullable=False),
    Column("price_tiyn", BigInteger, nullable=False),  # what the family paid of it
    Index("free_meals_school_day", "school_id", "local_date"),  # a school's month: the табель (0026)
)

# A rating of a child's meal (§33-1.8), by a guardian or by the student themself (``rater_role``;
# ``guardian_id`` is the rater, for a student their own id): one per rater, child, day and period; a
# new rating of the same meal replaces the old (the rater changed their mind, not history). The
# school administrator may hide its comment (``hidden_at``, ``hidden_by``; journalled): the stars
# still count. The office reads a month by day, period and stars from the covering index alone.
meal_ratings = Table(
    "meal_ratings",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("child_id", Uuid(), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("period", String(64), primary_key=True),
    Column("guardian_id", Uuid(), primary_key=True),
    Column("stars", Integer, nullable=False),
    Column("comment", String(500)),
    Column("at", UTCDateTime(), nullable=False),
    Column("id", Uuid(), nullable=False),
    Column("rater_role", String(16), nullable=False, server_default="guardian"),
    Column("hidden_at", UTCDateTime()),
    Column("hidden_by", String(128)),
    Index("meal_ratings_school_id", "school_id", "id", unique=True),
    Index("meal_ratings_school_day_stars", "school_id", "day", "period", "stars"),
)

# -- parents' notifications ------------------------------------------------------------------------

# A guardian's browser or phone, as its PushManager subscription gave it.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("school_id", String(64), nullable=False),
    Column("guardian_id", Uuid(), nullable=False),
    Column("account_id", Uuid(), nullable=False),
    Column("endpoint", String(1000), nullable=False),
    Column("p256dh", String(200), nullable=False),
    Column("auth", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # A browser that subscribes again in its school replaces its row.
    UniqueConstraint("school_id", "endpoint", name="push_subscriptions_school_endpoint"),
    Index("push_subscriptions_guardian", "school_id", "guardian_id"),
)
# What a guardian wants to hear of, and in which language (None: the language of their roster row).
notification_settings = Table(
    "notification_settings",
    metadata,
    Column("account_id", Uuid(), primary_key=True),
    Column("language", String(2)),
    Column("entries", Boolean, nullable=False),
    Column("meals", Boolean, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("money", Boolean, nullable=False, server_default=true()),  # a low balance
    Column("absences", Boolean, nullable=False, server_default=true()),  # not arrived, left early
)
# One row per stored event a guardian may be told of, written by ingest in its transaction and
# worked by the push workers: ingest never waits on a push service.
push_queue = Table(
    "push_queue",
    metadata,
    Column("id", BigIntegerId, primary_key=True, autoincrement=True),
    Column("school_id", String(64), nullable=False),
    Column("event_id", Uuid(), nullable=False),
    Column("person_id", Uuid(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("state", String(16), nullable=False),  # pending | sent | coalesced | skipped
    Column("attempts", Integer, nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime()),
    Column("detail", String(200)),
    # A notice that is no event (a low balance, a child not arrived): what it says. Its ``event_id``
    # is then a name-based UUID of (kind, child, key), so that it is queued once.
    Column("facts", JSON()),
    UniqueConstraint("school_id", "event_id", name="push_queue_event"),
    Index("push_queue_due", "state", "due_at"),
    Index("push_queue_person", "school_id", "person_id", "occurred_at"),
)

# -- the Social Wallet (Order No. 456 §33-1.4, §33-2) ----------------------------------------------

# One row per free or discounted meal claimed in ``free_meals``, written in the ingest's transaction:
# the registration as it is sent (frozen then, so that every retry carries the same body under the
# same idempotency key), and where its delivery stands. A sender leases pending rows
# (``claimed_until``) instead of holding a transaction open across an outage.
wallet_outbox = Table(
    "wallet_outbox",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("record_id", Uuid(), primary_key=True),  # the meal event's id
    Column("person_id", Uuid(), nullable=False),
    Column("local_date", Date, nullable=False),
    Column("period", String(64), nullable=False),
    # The MealRegistration, JSON encrypted at rest (the child's IIN): read in Python only.
    Column("payload", EncryptedJSON("wallet_outbox.payload"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | rejected
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("claimed_until", UTCDateTime()),
    Column("last_attempt_at", UTCDateTime()),
    Column("last_error", String(200)),
    Column("reason", String(64)),  # the Wallet's reason code of a rejection
    Column("message", String(500)),  # and its own words
    Column("settled_at", UTCDateTime()),
    Column("failing_since", UTCDateTime()),  # the first failed try of a waiting record (migration 0026)
    Index("wallet_outbox_pending", "status", "created_at"),
    Index("wallet_outbox_school_day", "school_id", "local_date"),
    Index("wallet_outbox_school_status", "school_id", "status", "local_date"),
)

# The Wallet's receipts, one per record however often it is answered, kept with the signature and
# the key so that the proof of delivery stays verifiable.
wallet_receipts = Table(
    "wallet_receipts",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("record_id", Uuid(), primary_key=True),
    Column("receipt_id", String(128), nullable=False),
    Column("accepted_at", UTCDateTime(), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("stored_at", UTCDateTime(), nullable=False),
    Index("wallet_receipts_school_stored", "school_id", "stored_at"),
)

# -- the monthly reports ---------------------------------------------------------------------------
# Daily rollups, kept up to date by ingest in the batch's transaction: a report reads these, never a
# month of raw events. A person is counted once a day (presence) or once a day and period (meals);
# an event without identity (no consent) is its own key and counts, nothing more.

# Every column a school's report reads, in the order it groups them (migrations 0013 and 0022's
# covering indexes).
REPORT_PRESENCE = ("school_id", "local_date", "person_key", "role", "first_entry_local", "last_exit_local")
REPORT_MEALS = ("school_id", "local_date", "category", "person_key", "period", "portions", "paid_tiyn", "full_tiyn")

rollup_presence = Table(
    "rollup_presence",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("local_date", Date, primary_key=True),
    Column("person_key", String(64), primary_key=True),  # the person id, or the event id when anonymous
    Column("role", String(16), nullable=False),  # student | staff | anonymous
    Column("first_entry", UTCDateTime()),
    Column("last_exit", UTCDateTime()),
    Column("first_entry_local", String(5)),  # "HH:MM" in Asia/Almaty, what the report shows
    Column("last_exit_local", String(5)),
    Index("rollup_presence_report", *REPORT_PRESENCE),
)
rollup_meal_eaters = Table(
    "rollup_meal_eaters",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("local_date", Date, primary_key=True),
    Column("person_key", String(64), primary_key=True),
    Column("period", String(64), primary_key=True),
    Column("category", String(16), primary_key=True),
    Column("portions", Integer, nullable=False),
    Column("paid_tiyn", BigInteger, nullable=False),  # what the family paid
    Column("full_tiyn", BigInteger, nullable=False, server_default="0"),  # the menu's price at serving
    Column("dishes", JSON, nullable=False),  # of the first meal: the report's dish list
    Index("rollup_meal_eaters_report", *REPORT_MEALS),
)
# A month of reports, each version immutable: a correction is a new version saying what changed.
reports = Table(
    "reports",
    metadata,
    Column("subject", String(64), primary_key=True),  # the school; the region (kind region); KZ (kind country)
    Column("month", String(7), primary_key=True),  # YYYY-MM
    Column("kind", String(16), primary_key=True),  # meals | attendance | region | country
    Column("version", Integer, primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("content_sha256", String(64), nullable=False),  # of the canonical JSON: "did anything change"
    Column("changes", JSON, nullable=False),  # what differs from the version before
    Column("missing_gateways", JSON, nullable=False),  # gateways that still held events at issue
    Column("manifest", LargeBinary, nullable=False),
    Column("signature", String(128), nullable=False),
)
# A version's files, as issued (a big school's month: some 8 MB), apart from the version's row.
report_files = Table(
    "report_files",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(64), primary_key=True),  # meals.json, attendance-people.csv, …
    Column("data", LargeBinary, nullable=False),
)
# Every change to what a school's month of reports is built from takes the next number: an ingest
# batch folding events of the month into its rollups, a set meal of one of its days.
month_versions = Table(
    "month_versions",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("version", BigInteger, nullable=False),
)
# What each report was last drafted from (its inputs' mark), issued or not: the hourly job drafts
# again only the reports whose mark moved. Bookkeeping, not history: overwritten at each draft.
report_marks = Table(
    "report_marks",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("mark", String(128), nullable=False),
    Column("drafted_at", UTCDateTime(), nullable=False),
)
# One row per issued version and receiver, from its issue until the receiver's receipt is kept: the
# report deliveries' leased queue (``cloud_api.background.queue``), pending until delivered.
report_deliveries = Table(
    "report_deliveries",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("receiver", String(64), primary_key=True),
    Column("state", String(16), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(300)),
    Column("receipt", JSON),
    Column("delivered_at", UTCDateTime()),
    Column("due_at", UTCDateTime()),  # the queue's lease: claimable when empty or past
    Index("report_deliveries_due", "state", "due_at"),
)
# A warning that a month's report is still unacknowledged two working days before its deadline:
# raised once, for the school admin and the region to see.
report_warnings = Table(
    "report_warnings",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("deadline", Date, nullable=False),
    Column("raised_at", UTCDateTime(), nullable=False),
    Column("receivers", JSON, nullable=False),  # the receivers that had not acknowledged
)

# -- the gateways' health (their heartbeats) -------------------------------------------------------

# One row per gateway: its last heartbeat, replaced by each new one (one upsert a heartbeat). The
# fleet pages and the alert rules read it: last contact, backlog, disk, clock, version, parts.
gateway_health = Table(
    "gateway_health",
    metadata,
    Column("school_id", String(64), primary_key=True),  # the gateway's
    Column("gateway_id", String(64), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),  # the cloud's clock: the last contact
    Column("sent_at", UTCDateTime(), nullable=False),  # the gateway's clock
    Column("clock_offset_s", Float, nullable=False),  # sent_at − received_at (includes the one-way trip)
    Column("reported_clock_offset_s", Float),  # the gateway's own measure, half round trip taken off
    Column("version", String(64), nullable=False),
    Column("uptime_s", Float, nullable=False),
    Column("cpu_ratio", Float, nullable=False),
    Column("memory_used_bytes", BigInteger, nullable=False),
    Column("memory_total_bytes", BigInteger, nullable=False),
    Column("disk_free_bytes", BigInteger, nullable=False),
    Column("disk_free_ratio", Float, nullable=False),
    Column("net_sent_bytes", BigInteger, nullable=False),
    Column("net_received_bytes", BigInteger, nullable=False),
    Column("links", JSON, nullable=False),  # network interface -> up
    Column("parts", JSON, nullable=False),  # part -> ok | failing | offline | stopped | off
    Column("outbox_pending", Integer, nullable=False),
    Column("outbox_rejected", Integer, nullable=False),
    Column("oldest_pending_age_s", Float),  # None: nothing waits
)

# Every heartbeat of the last day (``heartbeat_retention_hours``), compact: the figures that move,
# and only the parts and links that are not ok. Its key is the replay guard: a signature received
# twice from one gateway is refused, and nothing of it is stored.
gateway_heartbeats = Table(
    "gateway_heartbeats",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("gateway_id", String(64), primary_key=True),
    Column("signature", String(128), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("clock_offset_s", Float, nullable=False),
    Column("cpu_ratio", Float, nullable=False),
    Column("memory_used_bytes", BigInteger, nullable=False),
    Column("disk_free_bytes", BigInteger, nullable=False),
    Column("disk_free_ratio", Float, nullable=False),
    Column("net_sent_bytes", BigInteger, nullable=False),
    Column("net_received_bytes", BigInteger, nullable=False),
    Column("outbox_pending", Integer, nullable=False),
    Column("oldest_pending_age_s", Float),
    Column("not_ok", JSON(none_as_null=True)),  # {"link:x": "offline", "net:eth0": "offline"}; NULL: all ok
    # A gateway's day, for its fleet page.
    Index("gateway_heartbeats_gateway_received_at", "school_id", "gateway_id", "received_at"),
    # The retention sweep deletes by age.
    Index("gateway_heartbeats_received_at", "received_at"),
)

# -- alerts (issue 19) -------------------------------------------------------------------------------

# Every alert the cloud's rules raised (``cloud_api.alerts``), kept after it resolves. A gateway's
# alert is its school's (distributed with the school's tables); a deployment-wide one (a delivery
# queue, the database) has the school ``"*"``, whose few rows sit on the one shard "*" hashes to.
# A row is ``pending`` while its condition has not yet held for the rule's window (not shown, and
# deleted when the condition ends first), then ``open``, then ``resolved``: one row that is not
# resolved per (school, rule, subject).
alerts = Table(
    "alerts",
    metadata,
    Column("school_id", String(64), primary_key=True),  # "*": the deployment's
    Column("id", Uuid(), primary_key=True),
    Column("rule", String(32), nullable=False),
    Column("subject", String(200), nullable=False),  # a gateway id, "<gateway>/<reader>", a queue, "database"
    Column("gateway_id", String(64)),
    Column("state", String(16), nullable=False),  # pending | open | resolved
    Column("since", UTCDateTime(), nullable=False),  # the condition has held since
    Column("opened_at", UTCDateTime()),
    Column("clear_since", UTCDateTime()),  # an open alert's condition has been clear since (None: it holds)
    Column("resolved_at", UTCDateTime()),
    Column("acknowledged_at", UTCDateTime()),
    Column("acknowledged_by", Uuid()),  # the account that acknowledged it
    Column("value", Float),  # the figure when it opened: a free share, an age or an offset in seconds
    Column("tell", String(16)),  # opened | resolved: a notice still to send; None: everyone was told
    Index(
        "alerts_one_active",
        "school_id",
        "rule",
        "subject",
        unique=True,
        sqlite_where=text("state != 'resolved'"),
        postgresql_where=text("state != 'resolved'"),
    ),
    Index("alerts_state", "state"),  # every round reads the ones not resolved
    Index("alerts_school_opened", "school_id", "opened_at"),  # a school's page
    Index("alerts_tell", "tell"),
)

# A staff account's devices for the alerts' Web Push (a guardian's are ``push_subscriptions``, by
# school): an office account may have no school (a region's), so these go by the account.
staff_push_subscriptions = Table(
    "staff_push_subscriptions",
    metadata,
    Column("account_id", Uuid(), primary_key=True),
    Column("endpoint", String(1000), primary_key=True),
    Column("p256dh", String(200), nullable=False),
    Column("auth", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# -- integrations: the outside systems a school's data may go to (Order No. 456 §33-1.2, §33-1.13) ---

# One row per outside system (an e-textbook platform, an e-diary, another access-control system):
# what it may do (sign students in at ``redirect_uris`` with ``claims``; call the API with
# ``scopes``) and where (a region, or the whole country when ``region_id`` is NULL; ``school_ids``
# narrows it to some schools). Its secret is kept as SHA-256 (256 random bits need no stretching);
# a rotated secret keeps working until ``previous_secret_until`` so that the system can switch
# without an outage. Small, read at every token request, written seldom: a reference table.
integration_clients = Table(
    "integration_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("previous_secret_hash", String(64)),
    Column("previous_secret_until", UTCDateTime()),
    Column("redirect_uris", JSON, nullable=False),  # sign-in: where the authorization code may go
    # sign-in: where a student's page sends them to start signing in at the platform (OpenID Connect's
    # initiate_login_uri, third-party initiated login); NULL: the platform starts it only itself (0041)
    Column("initiate_login_uri", String(2000)),
    Column("claims", JSON, nullable=False),  # sign-in: the claims it may ask for
    Column("scopes", JSON, nullable=False),  # API: what it may read (cloud_api.integrations.clients.SCOPES)
    Column("region_id", String(64)),  # NULL: every region
    Column("school_ids", JSON, nullable=False),  # empty: every school of its region (or country)
    Column("rate_per_minute", Integer, nullable=False),  # API calls a minute before 429
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),  # revoked: no token, no sign-in, no webhook
    Column("revoked_by", String(128)),
    Index("integration_clients_region", "region_id"),
)

# -- the exchange with the National Education Database (NEDB, ҰБДҚ; cloud_api.nedb) --------------

# The schools that take part, their NEDB organisation code and where their roster pull stands.
# A school without a row keeps the file import.
nedb_schools = Table(
    "nedb_schools",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("organisation", String(32), nullable=False),  # the school's code at the NEDB
    Column("enabled_at", UTCDateTime(), nullable=False),
    Column("classes", JSON),  # the class names the NEDB gave for the school (None: it gave none)
    Column("cursor", String(64)),  # the NEDB's version the roster was last applied at (None: never)
    Column("next_pull_at", UTCDateTime(), nullable=False),  # when the worker pulls next (a lease while it pulls)
    Column("last_pull_at", UTCDateTime()),  # the last pull that applied (or found nothing new)
    Column("last_applied", Integer, nullable=False, server_default=text("0")),  # records applied by it
    Column("last_refused", Integer, nullable=False, server_default=text("0")),  # records refused by it
    Column("failures", Integer, nullable=False, server_default=text("0")),  # pulls failed in a row
    Column("failing_since", UTCDateTime()),
    Column("last_error", String(300)),
    Column("last_try_at", UTCDateTime()),
    Index("nedb_schools_next_pull", "next_pull_at"),
)

# Every packet sent to and received from the NEDB, with its time and signature, kept verifiable:
# a request's HMAC (direction ``out``) and the answer's Ed25519 (``in``, ``verified`` as checked).
# The body holds IINs: encrypted at rest; its SHA-256 is kept in clear for the signature's check.
nedb_packets = Table(
    "nedb_packets",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),  # UUIDv7: in time order
    Column("direction", String(8), nullable=False),  # out | in
    Column("kind", String(16), nullable=False),  # roster | figures
    Column("at", UTCDateTime(), nullable=False),
    Column("method", String(8), nullable=False),
    Column("target", String(512), nullable=False),  # path and query as signed
    Column("status_code", Integer),  # an answer's
    Column("timestamp", String(32)),
    Column("signature", String(256)),
    Column("request_id", Uuid()),  # an answer's request
    Column("body_sha256", String(64), nullable=False),
    Column("body", EncryptedText("nedb_packets.body"), nullable=False),
    Column("verified", Boolean),  # an answer's signature checked out (False: not processed)
    Index("nedb_packets_school_at", "school_id", "at"),
    Index("nedb_packets_at", "at"),  # the retention sweep
)

# A record refused on either side: a roster record the importer refused (``in``: a bad IIN, an
# unknown class), or a figure the NEDB refused (``out``), with its reason. ``detail`` holds what the
# office shows of it (the name, the value refused): personal data, encrypted.
nedb_refusals = Table(
    "nedb_refusals",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("direction", String(8), nullable=False),  # in | out
    Column("at", UTCDateTime(), nullable=False),
    Column("packet_id", Uuid(), nullable=False),  # the journalled packet it came in (or its answer)
    Column("record_id", String(96), nullable=False),
    Column("kind", String(16), nullable=False),  # student | staff | class | eligibility | meals | attendance
    Column("reason", String(64), nullable=False),
    Column("message", String(500), nullable=False, server_default=""),
    Column("detail", EncryptedJSON("nedb_refusals.detail")),
    Index("nedb_refusals_school_at", "school_id", "direction", "at"),
)

# The figures due to the NEDB: one packet a school, kind and period, sent until it is answered
# (a leased queue, ``cloud_api.background.queue``); its records' refusals are ``nedb_refusals``.
nedb_figures = Table(
    "nedb_figures",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),  # the packet id: the same packet whenever it is sent again
    Column("kind", String(8), nullable=False),  # monthly | daily
    Column("period", String(10), nullable=False),  # YYYY-MM | YYYY-MM-DD
    Column("state", String(16), nullable=False),  # pending | answered
    Column("due_at", UTCDateTime()),  # the lease: when it may be claimed (again)
    Column("created_at", UTCDateTime(), nullable=False),
    Column("tries", Integer, nullable=False, server_default=text("0")),
    Column("failing_since", UTCDateTime()),
    Column("last_error", String(300)),
    Column("answered_at", UTCDateTime()),
    Column("records", Integer, nullable=False, server_default=text("0")),
    Column("refused", Integer, nullable=False, server_default=text("0")),
    Column("payload", JSON, nullable=False),  # the FiguresPacket as built when due: sent again unchanged
    UniqueConstraint("school_id", "kind", "period", name="nedb_figures_period"),
    Index("nedb_figures_state", "state", "due_at"),
)

# -- single sign-on: Mektep as the students' OpenID Connect provider (Order No. 456 §33-1.13) ------

# The keys that sign ID tokens: the newest unretired one signs; a retired one stays published in the
# JWKS until every token it signed has expired. The private key is encrypted at rest like the
# deployment's other keys. A reference table: read at every token request, written at a rotation.
oidc_keys = Table(
    "oidc_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", EncryptedText("oidc_keys.private_pem"), nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("retired_at", UTCDateTime()),  # replaced by a newer key: verifies, signs nothing more
)

# An authorization code, kept as SHA-256 and spent once (``used_at``), living minutes.
oidc_codes = Table(
    "oidc_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("account_id", Uuid(), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("claims", JSON, nullable=False),  # what the student agreed to share with this client
    Column("nonce", String(255)),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(8), nullable=False),
    Column("auth_time", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Index("oidc_codes_expires", "expires_at"),  # swept once expired
)

# An access token for /oidc/userinfo, kept as SHA-256, with the claims it may read.
oidc_tokens = Table(
    "oidc_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("account_id", Uuid(), nullable=False),
    Column("claims", JSON, nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("oidc_tokens_expires", "expires_at"),  # swept once expired
)

# What a student agreed a platform may learn (``claims``), when, and its withdrawal: by the student
# or by a guardian, who and when. A row is never deleted (the history is kept); the one in force has
# no ``withdrawn_at``. A guardian's withdrawal (``guardian_block``) holds until a guardian lifts it:
# the child cannot simply agree again.
oidc_grants = Table(
    "oidc_grants",
    metadata,
    Column("account_id", Uuid(), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("claims", JSON, nullable=False),  # what the student agreed to share
    Column("offered", JSON, nullable=False),  # what the consent page showed: asked again only for more
    Column("granted_at", UTCDateTime(), nullable=False),
    Column("granted_by", String(128), nullable=False),
    Column("withdrawn_at", UTCDateTime()),
    Column("withdrawn_by", String(128)),
    Column("guardian_block", Boolean, nullable=False, server_default=false()),
    Column("block_lifted_at", UTCDateTime()),
    Column("block_lifted_by", String(128)),
    Index("oidc_grants_account_client", "account_id", "client_id"),
)

# -- webhooks: a school's events told to an outside system as they happen (Order No. 456 §33-1.2) ---

# One row per subscription of an integration client to a school's events (entry, exit, meal,
# roster). The Standard Webhooks secret signs every delivery, so it is kept encrypted, not hashed;
# during a rotation the previous one signs too until ``previous_secret_until``. The subscription is
# what the worker leases (``due_at``: claimable from; its retry time after a failure), so that its
# deliveries go out one after another, in order, from one worker at a time. By ``school_id``: ingest
# reads a school's subscriptions and writes their deliveries on the school's shard.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("kinds", JSON, nullable=False),  # entry | exit | meal | roster
    Column("secret", Encrypted("webhook_subscriptions.secret", 512), nullable=False),
    Column("previous_secret", Encrypted("webhook_subscriptions.previous_secret", 512)),
    Column("previous_secret_until", UTCDateTime()),
    Column("state", String(16), nullable=False),  # active | paused | removed
    Column("due_at", UTCDateTime(), nullable=False),  # the worker's lease, or the next try after a failure
    Column("failures", Integer, nullable=False),  # failed tries in a row
    Column("failing_since", UTCDateTime()),  # the first failure of the current run of them
    Column("last_error", String(200)),  # http_503 | connect_error | timeout | …
    Column("last_attempt_at", UTCDateTime()),
    Column("last_delivered_at", UTCDateTime()),
    Column("paused_reason", String(200)),
    Column("paused_at", UTCDateTime()),
    Column("paused_by", String(128)),  # an account, or "worker" after the failures went on too long
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("removed_at", UTCDateTime()),
    Index("webhook_subscriptions_client", "client_id"),
    Index("webhook_subscriptions_due", "state", "due_at"),
)

# One row per message to one subscription, written in the transaction that stored its event (or
# changed the roster): the body as signed, frozen, so every retry carries the same bytes under the
# same ``webhook-id`` (the row's id, a UUIDv7: its order is the order of delivery).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("subscription_id", Uuid(), nullable=False),
    Column("event_type", String(32), nullable=False),  # entry.created | exit.created | meal.created | roster.changed
    Column("event_id", Uuid()),
    Column("person_id", Uuid()),  # whose consent is asked again before each try (None: roster)
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | skipped | cancelled
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("last_status", Integer),
    Column("last_error", String(200)),
    Index("webhook_deliveries_subscription", "school_id", "subscription_id", "state", "id"),
    Index("webhook_deliveries_state", "state", "created_at"),
)

# -- integrations: scoped API clients (Order No. 456 §33-1.2, §16) -------------------------------------

# An access token of the OAuth 2.0 client credentials grant: opaque, an hour long, kept as SHA-256
# (a leaked table reads nothing). Looked up by its hash alone at every API call, like a session.
# A revoked client's tokens stop at once: every use also reads the client, which must be active.
integration_tokens = Table(
    "integration_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),  # what was granted: a subset of the client's scopes
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("integration_tokens_client", "client_id"),
)

# Every API call of a client (§5: every access to personal data journalled): when, what, which
# school, how it ended and how many rows it returned. Read by the client on its office page.
integration_calls = Table(
    "integration_calls",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),  # a UUIDv7: unique without a sequence on a Citus shard
    Column("at", UTCDateTime(), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(256), nullable=False),
    Column("school_id", String(64)),
    Column("status", Integer, nullable=False),
    Column("code", String(64)),  # the refusal's code, if any
    Column("rows", Integer, nullable=False),
    Index("integration_calls_client_at", "client_id", "at"),
)

# A client's calls counted per UTC minute, so that every API process shares one limit: one row a
# client a minute, incremented in place (the counting is one upsert), old rows pruned as it goes.
integration_rate = Table(
    "integration_rate",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("minute", UTCDateTime(), primary_key=True),
    Column("calls", Integer, nullable=False),
)

# -- absence and lateness (issue 21) ---------------------------------------------------------------

# The school day of each class, local "HH:MM": a family whose child has no entry by the start plus
# the school's grace is told (``not_arrived``), and one whose child leaves before the end (``left_early``).
# The row of class ``""`` is the school's default, for the classes not set, and holds the grace; a
# school without it sends neither notice.
school_hours = Table(
    "school_hours",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("class_name", String(8), primary_key=True),  # "": the school's default
    Column("starts", String(5), nullable=False),
    Column("ends", String(5), nullable=False),
    Column("grace_minutes", Integer),  # the default row only
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
)

# A guardian's report that a child is sick or away for some days (excused absence): those days are
# excused in the attendance report and its табель, and no ``not_arrived`` notice goes out for them.
# Withdrawn, the row stays (``withdrawn_at``) for the audit journal's sake and counts no more.
absence_reports = Table(
    "absence_reports",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("id", Uuid(), primary_key=True),
    Column("child_id", Uuid(), nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("reason", String(16), nullable=False),  # sick | family | other
    Column("note", EncryptedText("absence_reports.note")),  # may say what illness: encrypted at rest
    Column("reported_by", Uuid(), nullable=False),  # the guardian
    Column("reported_at", UTCDateTime(), nullable=False),
    Column("withdrawn_at", UTCDateTime()),
    Index("absence_reports_child", "school_id", "child_id", "first_day"),
    Index("absence_reports_days", "school_id", "last_day"),  # a day's or a month's reports of a school
)

# Each child's Social Wallet voucher: the id its dynamic QR code names (shared.wallet_qr), learned
# from the Wallet by IIN (cloud_api.social_wallet.vouchers). Append-only; NULL: the voucher was
# withdrawn. The gateway gets the newest with the roster.
wallet_vouchers = _history(
    "wallet_vouchers",
    Column("child_id", Uuid(), nullable=False),
    Column("voucher_id", Uuid()),
    Index("wallet_vouchers_child", "school_id", "child_id", "id"),
)

# -- a family's low-balance notice -------------------------------------------------------------------

# The balance below which a child's family wants a notice (migration 0037): one row a child, set by
# any of its guardians, as the daily limit is. No row: the default threshold
# (``cloud_api.services.low_balance.DEFAULT_THRESHOLD_TIYN``); a row with NULL: no notice. Every
# change is in the audit journal; the gateway never needs it, so it takes no roster version.
low_balance_thresholds = Table(
    "low_balance_thresholds",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("child_id", Uuid(), primary_key=True),
    Column("threshold_tiyn", BigInteger),  # NULL: the family wants no low-balance notice
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(128), nullable=False),
)

# The local day a child's family was last told its balance is low: at most one notice in two days,
# checked and moved in the transaction of the ingest whose meal took the balance below the threshold.
low_balance_notices = Table(
    "low_balance_notices",
    metadata,
    Column("school_id", String(64), primary_key=True),
    Column("child_id", Uuid(), primary_key=True),
    Column("notified_on", Date, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)
