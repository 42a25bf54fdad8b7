"""Reading an NEDB roster export: good rows in, every bad cell named by row, column and reason."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from cloud_api.roster import xlsx
from cloud_api.roster.nedb import (
    MAX_COLUMNS,
    MAX_ROWS,
    FileKind,
    Role,
    RosterFileError,
    RowProblem,
    parse_export,
    parse_rows,
    read_roster,
)
from shared.contract import Category
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN, iin
from tests.cloud_api.workbooks import SHEET, lying_about_size, sheet_xml, workbook


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
    monkeypatch.setattr(xlsx, "MAX_UNPACKED_BYTES", 1000)
    assert code(out.getvalue(), "xlsx") == ("xlsx_too_large", ())


# -- hostile workbooks: refused with a reason, before they cost more than a roster -----------------


def xlsx_refusal(data: bytes) -> str:
    with pytest.raises(RosterFileError) as refused:
        parse_export(data, "xlsx")
    return refused.value.code


def test_a_hand_made_workbook_of_the_export_imports() -> None:
    # the hostile workbooks below are this one with one thing changed
    roster = parse_export(workbook(sheet_xml([HEADER, *GOOD], dimension="A1:K5")), "xlsx")
    assert ([r.iin for r in roster.rows], roster.problems) == ([CHILD, TEEN, MOTHER, TEACHER], [])


def test_a_row_numbered_beyond_any_school_is_refused_at_that_row() -> None:
    # openpyxl would yield the 19,999,998 empty rows before it one by one
    assert xlsx_refusal(workbook(sheet_xml([HEADER, GOOD[0]], numbers=[1, 20_000_000]))) == "too_many_rows"
    # "2e7" is a row number openpyxl reads too
    numbered = sheet_xml([HEADER, GOOD[0]]).replace('<row r="2">', '<row r="2e7">')
    assert xlsx_refusal(workbook(numbered)) == "too_many_rows"
    # the last row a roster may have is read
    last = parse_export(workbook(sheet_xml([HEADER, GOOD[0]], numbers=[1, MAX_ROWS + 1])), "xlsx")
    assert [r.row for r in last.rows] == [MAX_ROWS + 1]


def test_a_sheet_that_declares_more_rows_or_columns_than_a_roster_is_refused() -> None:
    assert xlsx_refusal(workbook(sheet_xml([HEADER, *GOOD], dimension="A1:ZZ5000000"))) == "too_many_rows"
    assert xlsx_refusal(workbook(sheet_xml([HEADER, *GOOD], dimension="A1:ZZ5"))) == "too_many_columns"
    assert xlsx_refusal(workbook(sheet_xml([HEADER, *GOOD], dimension="1:1048576"))) == "too_many_rows"


def test_a_cell_beyond_the_last_column_a_roster_has_is_refused() -> None:
    far = sheet_xml([HEADER, *GOOD]).replace('r="A3"', 'r="XFD3"')  # Excel's last column
    assert xlsx_refusal(workbook(far)) == "too_many_columns"
    # cells without a reference count from the row's start, as openpyxl places them
    cells = "".join(f"<c><v>{i}</v></c>" for i in range(MAX_COLUMNS + 1))
    assert xlsx_refusal(workbook(sheet_xml([HEADER]).replace("</row>", cells + "</row>"))) == "too_many_columns"


def test_a_dimension_smaller_than_the_sheet_cuts_no_row_off() -> None:
    # some programs write a wrong dimension; openpyxl stopped at it and the rest was lost unsaid
    roster = parse_export(workbook(sheet_xml([HEADER, *GOOD], dimension="A1:K2")), "xlsx")
    assert [r.iin for r in roster.rows] == [CHILD, TEEN, MOTHER, TEACHER]


@pytest.mark.parametrize("declared", [100, 100_000], ids=["smaller", "larger"])
def test_a_part_whose_zip_header_lies_about_its_size_is_refused_as_damaged(declared: int) -> None:
    lying = lying_about_size(workbook(sheet_xml([HEADER, *GOOD])), SHEET, declared)
    assert xlsx_refusal(lying) == "xlsx_damaged"


def test_a_part_packed_like_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = workbook(sheet_xml([HEADER, *GOOD]), **{"xl/media/filler.xml": "<a>" + " " * 5_000_000 + "</a>"})
    assert len(bomb) < 10_000  # five megabytes packed a thousand to one
    assert xlsx_refusal(bomb) == "xlsx_too_large"


def test_xml_entities_are_refused_wherever_they_are_declared() -> None:
    laughs = '<!DOCTYPE lol [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    sheet = sheet_xml([HEADER, *GOOD], prolog=laughs).replace("Нұрланова", "&b;", 1)
    assert xlsx_refusal(workbook(sheet)) == "xlsx_dtd"
    rels = '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://example.com/x.dtd"><Relationships/>'
    assert xlsx_refusal(workbook(sheet_xml([HEADER, *GOOD]), **{"xl/_rels/workbook.xml.rels": rels})) == "xlsx_dtd"


def test_broken_xml_is_refused_with_its_reason() -> None:
    assert xlsx_refusal(workbook(sheet_xml([HEADER, *GOOD])[:-30])) == "xlsx_broken_xml"
    assert xlsx_refusal(workbook(sheet_xml([HEADER]), **{"xl/workbook.xml": "<workbook><sheets>"})) == "xlsx_broken_xml"


def test_a_zip_that_is_not_a_workbook_says_so() -> None:
    assert xlsx_refusal(workbook(sheet_xml([HEADER]), **{"[Content_Types].xml": None})) == "xlsx_no_workbook"
    assert xlsx_refusal(workbook(sheet_xml([HEADER]), **{"xl/workbook.xml": None})) == "xlsx_no_workbook"
    assert xlsx_refusal(b"PK\x03\x04 not really a zip") == "unreadable_xlsx"


def test_a_workbook_that_takes_too_long_to_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_CPU_SECONDS", 0)  # every workbook is then too slow
    assert xlsx_refusal(workbook(sheet_xml([HEADER, *GOOD]))) == "xlsx_too_slow"


def test_a_workbook_of_more_xml_elements_than_openpyxl_may_hold_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_ELEMENTS", 20)
    assert xlsx_refusal(workbook(sheet_xml([HEADER, *GOOD]))) == "xlsx_too_large"


def test_a_csv_wider_than_a_roster_is_refused() -> None:
    with pytest.raises(RosterFileError) as refused:
        parse_rows([[*HEADER, *([""] * MAX_COLUMNS)], GOOD[0]])
    assert refused.value.code == "too_many_columns"
