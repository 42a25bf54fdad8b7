"""What the school office needs: cards and consents it can tell apart, indexes for its pages, archives.

A card keeps the last four digits of its number (``number_hint``), so that a secretary can tell a
person's cards apart and find the one a pupil says is lost (the number itself stays only as its
keyed hash), and why it was blocked (``status_reason``: lost, stolen, damaged, other). A consent
says how it was given (``source``: the app, or on paper at the school), and for paper the date the
guardian signed it, the paper's reference, and who recorded it. Earlier rows have none of these:
they were all given in the app.

Indexes: a person's events (a person's page shows their last month, not a scan of the school's
month), a school's events of one kind (the Today page: the readers' last states over a fortnight,
the day's meals), and the journal's entries about one record of a school (a person's journal).

A school's archive of everything it has (§13) is asked for in the office and made in the
background: ``school_exports`` (the queue and its progress) and ``school_export_files`` (its bytes).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the card's hint and reason, the consent's source, paper date, reference and recorder."""
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("number_hint", sa.String(8)))
        batch.add_column(sa.Column("status_reason", sa.String(16)))
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("source", sa.String(8)))
        batch.add_column(sa.Column("signed_on", sa.Date()))
        batch.add_column(sa.Column("reference", sa.String(100)))
        batch.add_column(sa.Column("actor", sa.String(128)))
    op.create_index("events_school_person", "events", ["school_id", "person_id", "local_date"])
    op.create_index("events_school_kind_day", "events", ["school_id", "kind", "local_date"])
    op.create_index("audit_log_school_entity_id", "audit_log", ["school_id", "entity_id"])
    op.create_table(
        "school_exports",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", INSTANT, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", INSTANT),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("finished_at", INSTANT),
        sa.Column("error", sa.String(200)),
    )
    op.create_index("school_exports_pending", "school_exports", ["state", "requested_at"])
    op.create_table(
        "school_export_files",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    """Drop the columns and the index."""
    op.drop_table("school_export_files")
    op.drop_index("school_exports_pending", table_name="school_exports")
    op.drop_table("school_exports")
    op.drop_index("audit_log_school_entity_id", table_name="audit_log")
    op.drop_index("events_school_kind_day", table_name="events")
    op.drop_index("events_school_person", table_name="events")
    with op.batch_alter_table("consents") as batch:
        for column in ("actor", "reference", "signed_on", "source"):
            batch.drop_column(column)
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("status_reason")
        batch.drop_column("number_hint")
