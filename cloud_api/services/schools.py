"""The schools of the deployment and the region each belongs to: what a region's and the country's
reports add up. The caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import Connection, select

from cloud_api.core.formulas import FORMULA_STARTS, starts_like_a_formula
from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import schools

__all__ = ["place_school", "school_name"]


def place_school(conn: Connection, school_id: str, name: str, region_id: str) -> None:
    """Name the school and put it in ``region_id`` (again: rename it, or move it to another region).

    Raises ``ValueError`` for a name a spreadsheet would run: the region's CSV files list it.
    """
    if starts_like_a_formula(name):
        raise ValueError(f"the school's name begins like a spreadsheet formula ({' '.join(FORMULA_STARTS[:4])})")
    stmt = dialect_insert(conn, schools).values(school_id=school_id, name=name, region_id=region_id)
    conn.execute(stmt.on_conflict_do_update(index_elements=["school_id"], set_={"name": name, "region_id": region_id}))


def school_name(conn: Connection, school_id: str) -> str:
    """The school's name, or its id when it has not been named."""
    name = conn.execute(select(schools.c.name).where(schools.c.school_id == school_id)).scalar()
    return str(name) if name else school_id
