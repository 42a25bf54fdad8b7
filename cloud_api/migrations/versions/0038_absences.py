"""Absence and lateness: each class's school day, and the absences guardians report.

``school_hours`` holds each class's start and end of the school day (local ``HH:MM``), the row of
class ``""`` the school's default and its grace in minutes; ``absence_reports`` the days a guardian
reported a child sick or away (the note encrypted at rest), withdrawn or not. On Citus both go by
``school_id`` with the school's tables.

Revision ID: 0038
Revises: 0036
"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0036"
branch_labels = None
depends_on = None
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create both tables and their indexes."""
    op.create_table(
        "school_hours",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("class_name", sa.String(8), primary_key=True),
        sa.Column("starts", sa.String(5), nullable=False),
        sa.Column("ends", sa.String(5), nullable=False),
        sa.Column("grace_minutes", sa.Integer()),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_table(
        "absence_reports",
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("reported_by", sa.Uuid(), nullable=False),
        sa.Column("reported_at", INSTANT, nullable=False),
        sa.Column("withdrawn_at", INSTANT),
    )
    op.create_index("absence_reports_child", "absence_reports", ["school_id", "child_id", "first_day"])
    op.create_index("absence_reports_days", "absence_reports", ["school_id", "last_day"])


def downgrade() -> None:
    """Drop them: the school days and every reported absence go."""
    op.drop_table("absence_reports")
    op.drop_table("school_hours")
