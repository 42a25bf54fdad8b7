"""Where each table lives on a Citus cluster, and the step that puts it there.

On a Citus coordinator, ``mektep cloud migrate`` ends by distributing every table that is not yet
distributed (:func:`distribute`); on SQLite and on plain PostgreSQL it does nothing. A table a
later migration adds must be named here (a test checks that every table is), so that it is born
distributed.

How the tables are placed, and why:

- **A school's tables go by ``school_id``**, co-located: its events, packets, roster, canteen,
  ledger, queues and rollups are on one shard, so a batch's ingest, a roster delta, a parent's day
  and a month's rollups each run on one worker, in one local transaction.
- **Reports go by ``subject``**, co-located with the schools' tables: a school's reports are its
  own (the subject is its id) and sit on its shard. A region's or the country's reports (subject
  ``region id`` or ``KZ``) are a few rows a month: each lands on the one shard its subject hashes
  to, which is all they need.
- **The packet journal is a school's** (its gateway's school, added by migration 0017): the journal
  row and the batch's events are written in one transaction, and the replay guard is per gateway.
- **An account's tables go by the account's id**, co-located: accounts, role grants, notification
  settings, second factors (TOTP secrets, recovery codes, passkeys) and pending one-time codes.
  **Logins, sign-in attempts and outside identities go by the login** (an outside identity by its
  subject), co-located: a sign-in reads the login, the account and the login's recent failures by
  key, and single sign-on finds its account by the provider's subject. Counting an address's
  failures over every login (the throttle of password spraying) asks every shard: one indexed
  count per sign-in. **Sessions go by the token's hash**: every
  authenticated request looks a session up by its token alone, and a search by account (a new
  password ends every session) is rare enough to ask every shard. So do single sign-on's codes and
  access tokens (each looked up by its hash alone); a student's consents to platforms go by the account.
  **An outside system's access tokens go by the token's hash** for the same reason; **its calls'
  journal and its per-minute counters by the client's id**, co-located.
- **The gateways' health is a school's**: the last heartbeat of each gateway and the day's history,
  by the gateway's school, so a heartbeat's upsert and insert run on one worker. **So are its
  alerts**; the deployment's own (a delivery queue, the database) have the school ``"*"``: a few
  rows, on the one shard that id hashes to (a reference table would copy every write of a
  school's alerts to every worker for nothing).
- **The NEDB exchange's tables are a school's** (``nedb_schools``, ``nedb_packets``,
  ``nedb_refusals``, ``nedb_figures``): a delta's page, its packets, its refusals and the cursor it
  moves are written in one transaction on the school's shard.
- **A staff account's push devices go by the account** (a region's staff have no school).
- **Push subscriptions go by ``school_id``** although they belong to an account: the push worker
  reads a school's queued notices with the subscriptions of that school's guardians, in one query
  on one shard. The account's settings are then asked by account id.
- **Webhook subscriptions and their deliveries go by ``school_id``**: ingest reads the school's
  subscriptions and writes their deliveries in the batch's transaction, on the school's shard.
- **The school day and absence reports are a school's**: the absence worker reads a class's hours,
  students, consents, entries and reports in one query on the school's shard.
- **Photos go by ``sha256``**: a photo is fetched by its content hash alone (its URL).
- **Reference tables**, copied to every worker: the schools with their names and regions, the
  gateways (read at every request, before the school is known, and joined with a school's rows),
  the deployment's keys, the registered outside systems and the keys that sign their ID tokens
  (read at every token request). Small,
  read everywhere, written seldom.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, text

__all__ = ["DISTRIBUTION", "REFERENCE", "Placement", "distribute", "is_citus", "undistribute"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """A distributed table's column, and the table whose shards it shares (None: it starts a group)."""

    column: str
    colocate_with: str | None


REFERENCE = ("schools", "gateways", "deployment_keys", "integration_clients", "oidc_keys")


def _group(first: str, column: str, *others: tuple[str, str]) -> dict[str, Placement]:
    return {first: Placement(column, None), **{table: Placement(col, first) for table, col in others}}


DISTRIBUTION: dict[str, Placement] = {
    **_group(
        "events",
        "school_id",
        *(
            (table, "school_id")
            for table in (
                "packets",
                "roster_versions",
                "people",
                "guardianships",
                "credentials",
                "consents",
                "person_photos",
                "audit_log",
                "meal_rules",
                "dish_versions",
                "set_meals",
                "allergen_bans",
                "daily_limits",
                "canteen_pins",
                "balance_entries",
                "free_meals",
                "meal_ratings",
                "push_subscriptions",
                "push_queue",
                "wallet_outbox",
                "wallet_receipts",
                "rollup_presence",
                "rollup_meal_eaters",
                "month_versions",
                "school_exports",
                "school_export_files",
                "gateway_health",
                "gateway_heartbeats",
                "alerts",
                "nedb_schools",
                "nedb_packets",
                "nedb_refusals",
                "nedb_figures",
                "webhook_subscriptions",
                "webhook_deliveries",
                "school_hours",
                "absence_reports",
            )
        ),
        *(
            (table, "subject")
            for table in ("reports", "report_files", "report_marks", "report_deliveries", "report_warnings")
        ),
    ),
    **_group(
        "accounts",
        "id",
        *(
            (table, "account_id")
            for table in (
                "role_grants",
                "notification_settings",
                "totp_secrets",
                "recovery_codes",
                "passkeys",
                "one_time_codes",
                "staff_push_subscriptions",
                "oidc_grants",
            )
        ),
    ),
    **_group("account_logins", "login", ("sign_in_attempts", "login"), ("external_identities", "subject")),
    **_group("sessions", "token_hash"),
    **_group("photos", "sha256"),
    # Single sign-on: a code and a token are looked up by their hash alone, like a session.
    **_group("oidc_codes", "code_hash"),
    **_group("oidc_tokens", "token_hash"),
    # Scoped API clients: a token is looked up by its hash alone (like a session); a client's calls
    # and its per-minute counters by the client, read together on its office page and at each call.
    **_group("integration_tokens", "token_hash"),
    **_group("integration_calls", "client_id", ("integration_rate", "client_id")),
}


def is_citus(conn: Connection) -> bool:
    """Whether ``conn`` is to a database with the Citus extension (a coordinator); cached per connection."""
    if conn.dialect.name != "postgresql":
        return False
    if "citus" not in conn.info:
        found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first()
        conn.info["citus"] = found is not None
    return bool(conn.info["citus"])


def distribute(conn: Connection) -> list[str]:
    """Distribute (or make reference tables of) the tables that are not yet; the ones it did.

    Nothing happens off Citus. Each table is committed on its own: Citus copies a table's rows to
    its shards as it distributes it, and a later run picks up where an interrupted one stopped.
    """
    if not is_citus(conn):
        return []
    done = set(conn.execute(text("SELECT logicalrelid::regclass::text FROM pg_dist_partition")).scalars())
    conn.commit()
    made: list[str] = []
    for table, placement in DISTRIBUTION.items():
        if table in done:
            continue
        colocate = placement.colocate_with or "none"
        conn.execute(
            text("SELECT create_distributed_table(:t, :c, colocate_with => :w)"),
            {"t": table, "c": placement.column, "w": colocate},
        )
        conn.commit()
        made.append(table)
    for table in REFERENCE:
        if table not in done:
            conn.execute(text("SELECT create_reference_table(:t)"), {"t": table})
            conn.commit()
            made.append(table)
    if made:
        log.info("distributed on Citus: %s", ", ".join(made))
    return made


def undistribute(conn: Connection) -> None:
    """Bring every distributed or reference table back to the coordinator as a plain table.

    A downgrade below the migration that made every key hold its distribution column needs it:
    Citus refuses those keys on a distributed table. The next ``migrate`` distributes again.
    """
    if not is_citus(conn):
        return
    tables = conn.execute(
        text(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition p WHERE NOT EXISTS ("
            "SELECT 1 FROM pg_inherits i WHERE i.inhrelid = p.logicalrelid)"
        )
    ).scalars()
    for table in list(tables):
        conn.execute(text("SELECT undistribute_table(:t)"), {"t": table})
