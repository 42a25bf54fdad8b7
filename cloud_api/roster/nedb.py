"""Reading a roster export of the National Education Database (NEDB, ҰБДҚ), CSV or XLSX.

One table, one person a row; an XLSX file is read from its first sheet. Columns (header names are
matched without regard to case, spaces or underscores; Russian and Kazakh headers of the NEDB
export are accepted as aliases):

    role            student | staff | guardian
    iin             12 digits with a valid check digit
    last_name, first_name, middle_name (optional)
    class           students: grade 0-12 and an optional letter, "3Б", "11 А"
    language        kk | ru | en (optional; the school's language when empty)
    meal_category   students: free | discounted | paid (optional: grades 1-4 free, else paid)
    discount_percent  discounted students: 1-99 (the share the state pays)
    phone           guardians (and students, optional): +7XXXXXXXXXX (8XXXXXXXXXX, spaces, dashes accepted)
    email           guardians (phone or e-mail required; students optional): their account's login
    children        guardians: IINs of their children, separated by ";" or ","

Every bad row gives one :class:`RowProblem` per bad cell (row number as the admin sees it in the
file, the column, a stable code and the value); good rows are returned whatever the bad ones are.
A file unusable as a whole (not a roster, missing columns, more rows or columns than a school has)
raises :class:`RosterFileError`, whose code is stable and translated too. An XLSX workbook is read
within bounds of size, shape and time (:mod:`cloud_api.roster.xlsx`). Nothing here touches the
database: the importer decides what to store.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cloud_api.core.errors import DomainError
from cloud_api.core.formulas import starts_like_a_formula
from cloud_api.roster.iin import iin_problem
from shared.contract import Category

__all__ = [
    "FILE_CODES",
    "FILE_KINDS",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "FileKind",
    "ParsedRoster",
    "PersonRow",
    "Role",
    "RosterFileError",
    "RowProblem",
    "parse_export",
    "parse_rows",
    "read_roster",
]

Bad = Callable[[str, str], None]  # report (column, code) for the current row
# A big school has ~5,000 students and staff; with a guardian or two for each child its export stays
# under 20,000 rows. More is a wrong file, not a roster (and an XLSX sheet's bounds follow from it).
MAX_ROWS = 20_000
# The export has 11 columns, a fuller NEDB export a few dozen: a table wider than 100 is not a roster.
MAX_COLUMNS = 100

FileKind = Literal["csv", "xlsx"]
# What an uploaded file's name says it is; anything else is refused before it is read.
FILE_KINDS: dict[str, FileKind] = {".csv": "csv", ".xlsx": "xlsx"}


# Why a file is unusable as a whole: the codes a RosterFileError may carry.
FILE_CODES = (
    "empty_file",
    "missing_columns",
    "not_utf8",
    "unreadable_csv",
    "unreadable_xlsx",
    "too_many_rows",
    "too_many_columns",
    "xlsx_no_workbook",
    "xlsx_damaged",
    "xlsx_broken_xml",
    "xlsx_dtd",
    "xlsx_too_large",
    "xlsx_too_slow",
)


class RosterFileError(DomainError):
    """A file unusable as a whole; ``code`` is stable and shown translated, ``str()`` says more in English.

    Codes: ``empty_file``, ``missing_columns`` (``columns`` names them, each an error of its own),
    ``not_utf8``, ``unreadable_csv``, ``too_many_rows``, ``too_many_columns``, and an XLSX
    workbook's (:mod:`cloud_api.roster.xlsx`): ``unreadable_xlsx`` (not a zip archive, or not a
    workbook openpyxl can read), ``xlsx_no_workbook``, ``xlsx_damaged`` (a part that does not unpack
    to what its zip header says), ``xlsx_broken_xml``, ``xlsx_dtd`` (a DOCTYPE, so entities),
    ``xlsx_too_large``, ``xlsx_too_slow``.
    """

    def __init__(self, code: str, message: str, columns: tuple[str, ...] = ()) -> None:
        super().__init__(code, message, errors=[(column, "required") for column in columns])
        self.columns = columns


class Role(StrEnum):
    """What a person is to the school."""

    STUDENT = "student"
    STAFF = "staff"
    GUARDIAN = "guardian"


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One good row of the export."""

    row: int
    role: Role
    iin: str
    last_name: str
    first_name: str
    middle_name: str | None = None
    class_name: str | None = None
    grade: int | None = None
    language: str | None = None
    meal_category: Category | None = None
    discount_percent: int | None = None
    phone: str | None = None
    email: str | None = None
    children: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one cell of one row was refused: ``code`` is stable, ``value`` is what was there."""

    row: int
    column: str
    code: str
    value: str = ""


@dataclass
class ParsedRoster:
    """The good rows and the problems of the bad ones, in file order."""

    rows: list[PersonRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    total_rows: int = 0


_ALIASES = {
    "role": "role",
    "роль": "role",
    "рөлі": "role",
    "iin": "iin",
    "иин": "iin",
    "жсн": "iin",
    "lastname": "last_name",
    "фамилия": "last_name",
    "тегі": "last_name",
    "firstname": "first_name",
    "имя": "first_name",
    "аты": "first_name",
    "middlename": "middle_name",
    "отчество": "middle_name",
    "әкесініңаты": "middle_name",
    "class": "class",
    "класс": "class",
    "сынып": "class",
    "language": "language",
    "язык": "language",
    "тілі": "language",
    "mealcategory": "meal_category",
    "категорияпитания": "meal_category",
    "тамақсанаты": "meal_category",
    "discountpercent": "discount_percent",
    "скидка": "discount_percent",
    "жеңілдік": "discount_percent",
    "phone": "phone",
    "телефон": "phone",
    "email": "email",
    "e-mail": "email",
    "почта": "email",
    "children": "children",
    "дети": "children",
    "балалары": "children",
}
_REQUIRED = ("role", "iin", "last_name", "first_name")
_CLASS = re.compile(r"^(?P<grade>1[0-2]|[0-9])\s*-?\s*(?P<letter>[A-Za-zА-ЯЁа-яёӘәҒғҚқҢңӨөҰұҮүҺһІі]?)$")
_PHONE_JUNK = re.compile(r"[\s()\-]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGES = {"kk": "kk", "ru": "ru", "en": "en", "қаз": "kk", "каз": "kk", "рус": "ru"}
_ROLES = {
    "student": Role.STUDENT,
    "оқушы": Role.STUDENT,
    "ученик": Role.STUDENT,
    "staff": Role.STAFF,
    "қызметкер": Role.STAFF,
    "сотрудник": Role.STAFF,
    "guardian": Role.GUARDIAN,
    "ата-ана": Role.GUARDIAN,
    "родитель": Role.GUARDIAN,
}


def read_roster(path: Path) -> ParsedRoster:
    """Read a CSV (UTF-8, comma or semicolon) or XLSX export; ``RosterFileError`` if unusable."""
    kind: FileKind = "xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    return parse_export(path.read_bytes(), kind)


def parse_export(data: bytes, kind: FileKind) -> ParsedRoster:
    """Parse an export's bytes (an upload, a file read); ``RosterFileError`` if unusable as a whole."""
    if kind == "xlsx":
        from cloud_api.roster.xlsx import xlsx_rows  # only the XLSX path pays for importing openpyxl

        return parse_rows(xlsx_rows(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileError("not_utf8", f"not UTF-8 text (byte {exc.start}): save the export as CSV UTF-8") from None
    # The header says which separator the export uses (Excel in a Russian locale writes ";").
    # csv.Sniffer guesses from the data and gives up on rows with many empty cells.
    header = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=header.count)
    try:
        return parse_rows(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise RosterFileError("unreadable_csv", f"not a readable CSV file: {exc}") from None


def _text(column: str | None, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and column in ("iin", "children"):
        # Excel keeps an IIN typed in a cell as a number and drops its leading zero: every
        # child born 2000-2009 has one.
        return f"{value:012d}"
    return str(value)


def parse_rows(rows: Iterable[Sequence[object]]) -> ParsedRoster:
    """Validate rows whose first is the header; row numbers count the header as row 1."""
    out = ParsedRoster()
    it = iter(rows)
    header = next(it, None)
    if header is None:
        raise RosterFileError("empty_file", "the file is empty")
    _check_width(header)
    columns = [_ALIASES.get(re.sub(r"[\s_]", "", _text(None, h).strip().lower())) for h in header]
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise RosterFileError("missing_columns", f"missing columns: {', '.join(missing)}", tuple(missing))
    seen: dict[str, int] = {}
    for number, values in enumerate(it, start=2):
        _check_width(values)
        cells = {c: _text(c, v).strip() for c, v in zip(columns, values, strict=False) if c is not None}
        if not any(cells.values()):
            continue  # blank lines at the end of a spreadsheet are not rows
        out.total_rows += 1
        if out.total_rows > MAX_ROWS:
            raise RosterFileError("too_many_rows", f"more than {MAX_ROWS} rows: is this a roster?")
        person, problems = _person(number, cells)
        if person is not None and person.iin in seen:
            problems.append(RowProblem(number, "iin", "duplicate_iin", f"{person.iin} (row {seen[person.iin]})"))
        if problems:
            out.problems.extend(problems)
            continue
        assert person is not None
        seen[person.iin] = number
        out.rows.append(person)
    return out


def _check_width(values: Sequence[object]) -> None:
    if len(values) > MAX_COLUMNS:
        raise RosterFileError("too_many_columns", f"a row of {len(values)} cells; a roster has {MAX_COLUMNS} at most")


def _person(row: int, cells: dict[str, str]) -> tuple[PersonRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []

    def bad(column: str, code: str) -> None:
        problems.append(RowProblem(row, column, code, cells.get(column, "")))

    role = _ROLES.get(cells.get("role", "").lower())
    if role is None:
        bad("role", "unknown_role")
    iin = cells.get("iin", "")
    if (problem := iin_problem(iin)) is not None:
        bad("iin", problem.value)
    for column in ("last_name", "first_name", "middle_name"):
        if not cells.get(column):
            if column != "middle_name":
                bad(column, "required")
        elif len(cells[column]) > 100:
            bad(column, "too_long")
        elif starts_like_a_formula(cells[column]):
            bad(column, "starts_like_a_formula")
    language = cells.get("language", "").lower() or None
    if language is not None:
        language = _LANGUAGES.get(language)
        if language is None:
            bad("language", "unknown_language")
    fields: dict[str, object] = {}
    if role is Role.STUDENT:
        fields = _student(cells, bad)
        # An older student's own contacts, where the export has them: the login of their account.
        good, phone, email = _contacts(cells, bad)
        if fields and good:
            fields = {**fields, "phone": phone, "email": email}
    elif role is Role.GUARDIAN:
        fields = _guardian(cells, bad)
    if problems or role is None:
        return None, problems
    return PersonRow(
        row=row,
        role=role,
        iin=iin,
        last_name=cells["last_name"],
        first_name=cells["first_name"],
        middle_name=cells.get("middle_name") or None,
        language=language,
        **fields,  # type: ignore[arg-type]
    ), problems


def _student(cells: dict[str, str], bad: Bad) -> dict[str, object]:
    match = _CLASS.match(cells.get("class", ""))
    if match is None:
        bad("class", "unknown_class")
        return {}
    grade = int(match["grade"])
    category_text = cells.get("meal_category", "").lower()
    if not category_text:
        # Order No. 456: grades 1-4 eat free; older children by their social category, else paid.
        category = Category.FREE if 1 <= grade <= 4 else Category.PAID
    elif category_text in {c.value for c in Category}:
        category = Category(category_text)
    else:
        bad("meal_category", "unknown_meal_category")
        return {}
    discount: int | None = None
    if category is Category.DISCOUNTED:
        text = cells.get("discount_percent", "")
        if not text.isdigit() or not 1 <= int(text) <= 99:
            bad("discount_percent", "discount_out_of_range")
            return {}
        discount = int(text)
    return {
        "class_name": f"{grade}{match['letter'].upper()}",
        "grade": grade,
        "meal_category": category,
        "discount_percent": discount,
    }


def _contacts(cells: dict[str, str], bad: Bad) -> tuple[bool, str | None, str | None]:
    """The row's phone and e-mail, each checked if present: (whether they were good, phone, e-mail)."""
    phone = _PHONE_JUNK.sub("", cells.get("phone", ""))
    if phone.startswith("8") and len(phone) == 11:
        phone = "+7" + phone[1:]  # the domestic form most exports still carry
    email = cells.get("email", "").lower()
    ok = True
    if phone and not re.fullmatch(r"\+7\d{10}", phone):
        bad("phone", "bad_phone")
        ok = False
    if email and not _EMAIL.match(email):
        bad("email", "bad_email")
        ok = False
    return ok, phone or None, email or None


def _guardian(cells: dict[str, str], bad: Bad) -> dict[str, object]:
    ok, phone, email = _contacts(cells, bad)
    if ok and not phone and not email:
        bad("phone", "phone_or_email_required")
        ok = False
    children = tuple(c.strip() for c in re.split(r"[;,]", cells.get("children", "")) if c.strip())
    if not children:
        bad("children", "required")
        ok = False
    elif any(iin_problem(c) is not None for c in children):
        bad("children", "bad_child_iin")
        ok = False
    if not ok:
        return {}
    return {"phone": phone, "email": email, "children": children}
