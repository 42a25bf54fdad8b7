"""Reading an NEDB roster export: good rows in, every bad cell named by row, column and reason."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from cloud_api.roster import nedb
from cloud_api.roster.nedb import FileKind, Role, RosterFileError, RowProblem, parse_export, parse_rows, read_roster
from shared.contract import Category
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN, iin


def test_good_rows_are_read_and_normalised() -> None:
    roster = parse_rows([HEADER, *GOOD])
    assert roster.problems == [] and roster.total_rows == 4
    child, teen, mother, teacher = roster.rows
    assert (child.role, child.class_name, child.grade, child.meal_category) == (Role.STUDENT, "3Б", 3, Category.FREE)
    assert (teen.class_name, teen.meal_category, teen.discount_percent) == ("9А", Category.DISCOUNTED, 50)
    assert (mother.phone, mother.children) == ("+77012345678", (CHILD, TEEN))
    assert (teacher.role, teacher.language, teacher.class_name) == (Role.STAFF, "ru", None)


def test_each_bad_cell_is_named_and_the_good_rows_still_come_through() -> None:
    bad_iin = CHILD[:11] + str((int(CHILD[11]) + 1) % 10)
    rows = [
        HEADER,
        GOOD[0],
        ["student", bad_iin, "Ахметов", "Дана", "2А", "", "", "", "", "", ""],  # row 3: check digit
        ["student", TEEN, "Иванов", "Пётр", "13Я", "", "", "", "", "", ""],  # row 4: no such class
        ["teacher", TEACHER, "Сейітов", "Марат", "", "", "", "", "", "", ""],  # row 5: role
        ["guardian", MOTHER, "Нұрланова", "", "", "", "", "", "12345", "", ""],  # row 6: three problems
        ["student", CHILD, "Нұрланова", "Әлия", "3Б", "", "", "", "", "", ""],  # row 7: seen on row 2
        ["student", TEEN, "Иванов", "Пётр", "9А", "de", "discounted", "150", "", "", ""],  # row 8
        [""] * len(HEADER),  # a blank line is no row
    ]
    roster = parse_rows(rows)
    assert [r.row for r in roster.rows] == [2]
    assert roster.total_rows == 7
    assert roster.problems == [
        RowProblem(3, "iin", "iin_bad_check_digit", bad_iin),
        RowProblem(4, "class", "unknown_class", "13Я"),
        RowProblem(5, "role", "unknown_role", "teacher"),
        RowProblem(6, "first_name", "required", ""),
        RowProblem(6, "phone", "bad_phone", "12345"),
        RowProblem(6, "children", "required", ""),
        RowProblem(7, "iin", "duplicate_iin", f"{CHILD} (row 2)"),
        RowProblem(8, "language", "unknown_language", "de"),
        RowProblem(8, "discount_percent", "discount_out_of_range", "150"),
    ]


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_refused() -> None:
    # The reports' CSV files are opened in Excel at the education authority: "=…" would run there.
    rows = [
        HEADER,
        GOOD[0],
        ["student", TEEN, '=HYPERLINK("http://evil.example";"Иванов")', "Пётр", "9А", "", "", "", "", "", ""],
        ["staff", TEACHER, "Сейітов", "@SUM(1+1)", "", "", "", "", "", "", ""],
    ]
    roster = parse_rows(rows)
    assert [r.row for r in roster.rows] == [2]
    assert [(p.row, p.column, p.code) for p in roster.problems] == [
        (3, "last_name", "starts_like_a_formula"),
        (4, "first_name", "starts_like_a_formula"),
    ]


def test_a_middle_name_too_long_for_its_column_is_refused_not_left_to_the_database() -> None:
    rows = [[*HEADER, "middle_name"], [*GOOD[0], "Қ" * 101], [*GOOD[1], "Петрович"]]
    roster = parse_rows(rows)
    assert [(r.row, r.middle_name) for r in roster.rows] == [(3, "Петрович")]
    assert [(p.row, p.column, p.code) for p in roster.problems] == [(2, "middle_name", "too_long")]


def test_a_file_without_the_needed_columns_is_refused_whole() -> None:
    with pytest.raises(RosterFileError, match="missing columns: iin"):
        parse_rows([["role", "last_name", "first_name"], ["student", "A", "B"]])


def test_csv_with_semicolons_and_a_bom_and_russian_headers(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    lines = ["Роль;ИИН;Фамилия;Имя;Класс", f"ученик;{CHILD};Нұрланова;Әлия;4В"]
    path.write_bytes("\ufeff".encode() + "\r\n".join(lines).encode())
    roster = read_roster(path)
    assert roster.problems == [] and roster.rows[0].class_name == "4В"


def test_xlsx_first_sheet(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *GOOD]:
        sheet.append(row)
    sheet.append(["student", 150319500126, "Number", "Cell", 3, "", "", "", "", "", ""])  # numbers, as Excel keeps them
    born_2008 = iin("08090250011")
    sheet.append(["student", int(born_2008), "Zero", "Lost", "11", "", "", "", "", "", ""])  # Excel drops the 0
    path = tmp_path / "export.xlsx"
    book.save(path)
    roster = read_roster(path)
    assert [r.iin for r in roster.rows] == [CHILD, TEEN, MOTHER, TEACHER, born_2008]
    # the IIN typed as a number is the same child again: refused as a duplicate, not misread
    assert roster.problems == [RowProblem(6, "iin", "duplicate_iin", f"{CHILD} (row 2)")]


def test_csv_with_many_empty_cells_is_read(tmp_path: Path) -> None:
    # csv.Sniffer could not tell the separator of such a file, and the import failed whole
    path = tmp_path / "export.csv"
    path.write_text("\n".join(";".join(row) for row in [HEADER, *GOOD]), encoding="utf-8")
    assert len(read_roster(path).rows) == 4
    path.write_bytes(b"role;iin\n\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_roster(path)


def test_a_file_unusable_as_a_whole_says_why_with_a_code(monkeypatch: pytest.MonkeyPatch) -> None:
    def code(data: bytes, kind: FileKind) -> tuple[str, tuple[str, ...]]:
        with pytest.raises(RosterFileError) as refused:
            parse_export(data, kind)
        return refused.value.code, refused.value.columns

    assert code(b"name;age\nA;3\n", "csv") == ("missing_columns", ("role", "iin", "last_name", "first_name"))
    assert code(b"", "csv") == ("empty_file", ())
    assert code(b"role;iin\n\xff\xfe", "csv") == ("not_utf8", ())
    assert code(b"role;iin\n", "xlsx") == ("unreadable_xlsx", ())  # not a zip at all
    book, out = Workbook(), io.BytesIO()
    book.active.append(HEADER)  # type: ignore[union-attr]
    book.save(out)
    # a workbook that unpacks to more than a roster could is refused before openpyxl reads it
    monkeypatch.setattr(nedb, "MAX_XLSX_UNPACKED_BYTES", 1000)
    assert code(out.getvalue(), "xlsx") == ("unreadable_xlsx", ())
