"""Importing a roster: the good rows stored, a re-import changes nothing, every change audited."""

from __future__ import annotations

from sqlalchemy import Engine, select

from cloud_api.db.schema import guardianships, iin_indexes, people
from cloud_api.roster.nedb import RowProblem, parse_rows
from cloud_api.services.audit import audit_entries
from cloud_api.services.roster_import import import_roster
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN, iin


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


def test_a_complete_export_marks_the_students_and_staff_it_leaves_out_as_gone(engine: Engine) -> None:
    run(engine, GOOD)
    stayed = [row for row in GOOD if row[1] not in (TEEN, TEACHER)]  # the teen moved away, the teacher retired
    with engine.begin() as conn:
        partial = import_roster(conn, "s1", parse_rows([HEADER, *stayed]), actor="admin@s1")
    assert partial.left == 0  # a file that is not said to be complete removes nobody
    with engine.begin() as conn:
        report = import_roster(conn, "s1", parse_rows([HEADER, *stayed]), actor="admin@s1", complete=True)
    assert (report.left, report.departures_held, report.updated, report.version) == (2, False, 0, 2)
    with engine.connect() as conn:
        active = dict(conn.execute(select(people.c.iin, people.c.active)).all())
        gone = [e for e in audit_entries(conn, "s1", "person") if e["after"] == {"active": False}]
    assert active == {CHILD: True, TEEN: False, MOTHER: True, TEACHER: False}  # a guardian is not "gone"
    assert len(gone) == 2 and all(e["before"] == {"active": True} for e in gone)
    with engine.begin() as conn:
        again = import_roster(conn, "s1", parse_rows([HEADER, *stayed]), actor="admin@s1", complete=True)
    assert (again.left, again.version) == (0, 2)  # the same file again changes nothing
    back = run(engine, GOOD)  # the teen came back
    assert back.updated == 2
    with engine.connect() as conn:
        assert (
            conn.execute(select(people.c.active).where(people.c.iin_index.in_(iin_indexes(conn, TEEN)))).scalar_one()
            is True
        )


def test_a_complete_export_with_a_refused_row_marks_nobody_as_gone(engine: Engine) -> None:
    run(engine, GOOD)
    broken = [[*GOOD[1][:1], TEEN[:-1] + str((int(TEEN[-1]) + 1) % 10), *GOOD[1][2:]]]  # the teen's IIN mistyped
    rows = [GOOD[0], *broken, GOOD[2]]
    with engine.begin() as conn:
        report = import_roster(conn, "s1", parse_rows([HEADER, *rows]), actor="admin@s1", complete=True)
    assert report.departures_held and report.left == 0 and [p.code for p in report.problems] == ["iin_bad_check_digit"]
    with engine.connect() as conn:
        assert all(conn.execute(select(people.c.active)).scalars())  # the teen may be the refused row
