"""Every key holds the column its table is distributed by, so that Citus can shard every table.

Citus keeps a table's rows by the hash of one column on one worker's shard and can enforce a
primary or unique key only within a shard: every such key must hold that column (see
``cloud_api.db.distribution`` for which column each table goes by). So:

- The tables of a school whose key was a bare serial id (consents, the append-only histories, the
  audit journal, the prepaid ledger, the push queue) are keyed ``(school_id, id)``; role grants
  ``(account_id, id)``; sign-in attempts ``(login, id)``. On SQLite the id stays the whole key:
  SQLite counts up only a column spelled ``INTEGER PRIMARY KEY``, and it shards nothing.
- The packet journal is a school's: it gets ``school_id`` (its gateway's), and the replay guard
  becomes unique per ``(school_id, gateway_id, signature)``, the same guard since a gateway
  belongs to one school.
- The gateways stay keyed by their id: they become a reference table, copied to every worker,
  because every signed request looks its gateway up before its school is known. The reports of a
  region or of the country are keyed by subject like a school's, each on the shard its subject falls
  on: a few rows a month need no table of their own.
- A push subscription's endpoint is unique per school (a browser re-subscribing in its school
  replaces its row); a login, unique in the whole country, moves to ``account_logins``, a table
  of its own keyed and distributed by the login and written in the account's transaction.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from cloud_api.db.distribution import undistribute

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# table → the key it gets on PostgreSQL
_KEYS = {
    "consents": ("school_id", "id"),
    "person_photos": ("school_id", "id"),
    "meal_rules": ("school_id", "id"),
    "dish_versions": ("school_id", "id"),
    "set_meals": ("school_id", "id"),
    "allergen_bans": ("school_id", "id"),
    "daily_limits": ("school_id", "id"),
    "canteen_pins": ("school_id", "id"),
    "audit_log": ("school_id", "id"),
    "balance_entries": ("school_id", "id"),
    "push_queue": ("school_id", "id"),
    "push_subscriptions": ("school_id", "id"),
    "packets": ("school_id", "id"),
    "role_grants": ("account_id", "id"),
    "sign_in_attempts": ("login", "id"),
}


def _rekey(table: str, columns: tuple[str, ...]) -> None:
    op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey"')
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ({", ".join(columns)})')


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "account_logins",
        sa.Column("login", sa.String(254), primary_key=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
    )
    op.execute("INSERT INTO account_logins (login, account_id) SELECT login, id FROM accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("accounts_login", type_="unique")

    with op.batch_alter_table("packets") as batch:
        batch.add_column(sa.Column("school_id", sa.String(64)))
    op.execute(
        "UPDATE packets SET school_id = "
        "(SELECT gateways.school_id FROM gateways WHERE gateways.gateway_id = packets.gateway_id)"
    )
    op.execute("DELETE FROM packets WHERE school_id IS NULL")  # a gateway deleted since: nothing to guard
    with op.batch_alter_table("packets") as batch:
        batch.alter_column("school_id", existing_type=sa.String(64), nullable=False)
        batch.drop_constraint("packets_gateway_signature", type_="unique")
        batch.create_unique_constraint("packets_school_gateway_signature", ["school_id", "gateway_id", "signature"])

    with op.batch_alter_table("push_subscriptions") as batch:
        batch.drop_constraint("push_subscriptions_endpoint", type_="unique")
        batch.create_unique_constraint("push_subscriptions_school_endpoint", ["school_id", "endpoint"])

    if postgres:
        for table, columns in _KEYS.items():
            _rekey(table, columns)


def downgrade() -> None:
    undistribute(op.get_bind())  # Citus: the old keys cannot hold on distributed tables
    if op.get_bind().dialect.name == "postgresql":
        for table in _KEYS:
            _rekey(table, ("id",))
    with op.batch_alter_table("push_subscriptions") as batch:
        batch.drop_constraint("push_subscriptions_school_endpoint", type_="unique")
        batch.create_unique_constraint("push_subscriptions_endpoint", ["endpoint"])
    with op.batch_alter_table("packets") as batch:
        batch.drop_constraint("packets_school_gateway_signature", type_="unique")
        batch.create_unique_constraint("packets_gateway_signature", ["gateway_id", "signature"])
        batch.drop_column("school_id")
    with op.batch_alter_table("accounts") as batch:
        batch.create_unique_constraint("accounts_login", ["login"])
    op.drop_table("account_logins")
