"""Importing a roster: the good rows stored, a re-import changes nothing, every change audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import guardianships, people
from cloud_api.roster.nedb import RowProblem, parse_rows
from cloud_api.services.audit import audit_entries
from cloud_api.services.roster_import import import_roster
from tests.cloud_api.test_nedb_roster import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN, iin


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def run(engine: Engine, rows: list[list[str]], actor: str = "admin@s1") -> object:
    with engine.begin() as conn:
        return import_roster(conn, "s1", parse_rows([HEADER, *rows]), actor=actor)


def test_import_is_idempotent_and_audited(engine: Engine) -> None:
    first = run(engine, GOOD)
    assert (first.created, first.updated, first.unchanged, first.links_added, first.version) == (4, 0, 0, 2, 1)
    again = run(engine, GOOD)
    assert (again.created, again.updated, again.unchanged, again.version) == (0, 0, 4, 1)  # nothing moved
    with engine.connect() as conn:
        assert len(audit_entries(conn, "s1", "person")) == 4
        assert len(audit_entries(conn, "s1", "guardianship")) == 2
        names = dict(conn.execute(select(people.c.iin, people.c.class_name)).all())
    assert names == {CHILD: "3Б", TEEN: "9А", MOTHER: None, TEACHER: None}


def test_a_change_updates_only_what_changed_and_keeps_before_and_after(engine: Engine) -> None:
    run(engine, GOOD)
    moved = [row[:] for row in GOOD]
    moved[0][4] = "4Б"  # the child moved up a class
    moved[2][10] = CHILD  # the mother now lists only that child
    report = run(engine, moved, actor="registrar@s1")
    assert (report.created, report.updated, report.unchanged, report.links_removed, report.version) == (0, 1, 3, 1, 2)
    with engine.connect() as conn:
        change = audit_entries(conn, "s1", "person")[-1]
        assert (change["action"], change["actor"]) == ("update", "registrar@s1")
        assert change["before"] == {"class_name": "3Б", "grade": 3}
        assert change["after"] == {"class_name": "4Б", "grade": 4}
        unlink = audit_entries(conn, "s1", "guardianship")[-1]
        assert unlink["action"] == "delete" and unlink["after"] is None
        assert len(conn.execute(select(guardianships)).all()) == 1


def test_bad_rows_are_reported_and_the_good_ones_imported(engine: Engine) -> None:
    stranger = iin("12121250099")
    rows = [*GOOD, ["guardian", iin("90010140011"), "Әкесі", "Біреу", "", "", "", "", "+77010000000", "", stranger]]
    report = run(engine, [*rows, ["student", "123", "X", "Y", "1А", "", "", "", "", "", ""]])
    assert report.created == 4
    assert report.problems == [
        RowProblem(7, "iin", "iin_not_twelve_digits", "123"),
        RowProblem(6, "children", "unknown_child", stranger),
    ]
