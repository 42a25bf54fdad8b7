"""A meal's full price is frozen when it is served: the rollups keep it (``full_tiyn``).

Until now the monthly sums priced the free and discounted meals by joining the set meal of their
day as it is *now*: a price changed after lunch re-priced every lunch already served that day in the
running month's sums (the state's share of free lunches moved with it), while paid meals kept what
the family was charged. Ingest now stores, with each rollup row, the menu's price at the moment of
serving, and the sums add that up.

Rows already rolled up are priced here by the menu as it stands at this migration: the moment each
was served is not in the rollup, and the newest price is what the reports have shown until now, so
no issued report changes by this migration. The report's covering index gains the column.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

OLD_MEALS = ["school_id", "local_date", "category", "person_key", "period", "portions", "paid_tiyn"]
set_meals = sa.table(
    "set_meals",
    sa.column("id", sa.BigInteger),
    sa.column("school_id", sa.String),
    sa.column("day", sa.Date),
    sa.column("period", sa.String),
    sa.column("price_tiyn", sa.BigInteger),
)
eaters = sa.table(
    "rollup_meal_eaters",
    sa.column("school_id", sa.String),
    sa.column("local_date", sa.Date),
    sa.column("period", sa.String),
    sa.column("portions", sa.Integer),
    sa.column("full_tiyn", sa.BigInteger),
)


def upgrade() -> None:
    """Add ``full_tiyn``, price the rows rolled up so far, and cover it in the report's index."""
    with op.batch_alter_table("rollup_meal_eaters") as batch:
        batch.add_column(sa.Column("full_tiyn", sa.BigInteger(), nullable=False, server_default="0"))
    conn = op.get_bind()
    # One UPDATE per school, day and period, each on one school's rows: plain statements that every
    # engine runs (Citus routes each to its shard), rather than an UPDATE joined to the menus.
    newest: dict[tuple[str, object, str], int] = {}
    for row in conn.execute(sa.select(set_meals).order_by(set_meals.c.id)):
        newest[(row.school_id, row.day, row.period)] = int(row.price_tiyn)
    update = (
        sa.update(eaters)
        .where(
            eaters.c.school_id == sa.bindparam("s"),
            eaters.c.local_date == sa.bindparam("d"),
            eaters.c.period == sa.bindparam("p"),
        )
        .values(full_tiyn=eaters.c.portions * sa.bindparam("price", type_=sa.BigInteger))
    )
    prices = [{"s": s, "d": d, "p": p, "price": price} for (s, d, p), price in newest.items()]
    if prices:
        conn.execute(update, prices)
    op.drop_index("rollup_meal_eaters_report", table_name="rollup_meal_eaters")
    op.create_index("rollup_meal_eaters_report", "rollup_meal_eaters", [*OLD_MEALS, "full_tiyn"])


def downgrade() -> None:
    """Back to the index and the columns of 0021 (the sums then join the menus again)."""
    op.drop_index("rollup_meal_eaters_report", table_name="rollup_meal_eaters")
    op.create_index("rollup_meal_eaters_report", "rollup_meal_eaters", OLD_MEALS)
    with op.batch_alter_table("rollup_meal_eaters") as batch:
        batch.drop_column("full_tiyn")
