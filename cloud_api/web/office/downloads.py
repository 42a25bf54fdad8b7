"""A list of the office as a file to download: CSV (UTF-8 with a BOM, so that Excel reads Cyrillic) or XLSX.

These files are for people: a cell that a spreadsheet would run as a formula (a phone number's
``+``, a name from elsewhere) is written as text, with the apostrophe Excel itself uses for that
in the CSV, and as a string in the XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import xlsxwriter
from fastapi.responses import Response

from cloud_api.core.formulas import starts_like_a_formula
from cloud_api.core.security_events import record_personal_export

__all__ = ["FILE_FORMATS", "csv_bytes", "personal_table_file", "table_file"]

FILE_FORMATS = frozenset({"csv", "xlsx"})
_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ", timespec="minutes") if isinstance(value, datetime) else value.isoformat()
    return value


def csv_bytes(headings: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The rows under their headings as CSV for a spreadsheet: UTF-8 with a BOM, formulas written as text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headings)
    for row in rows:
        cells = [_cell(v) for v in row]
        writer.writerow([f"'{v}" if isinstance(v, str) and starts_like_a_formula(v) else v for v in cells])
    return out.getvalue().encode("utf-8-sig")


def _xlsx(sheet_name: str, headings: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet(sheet_name[:31])
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, list(headings), bold)
    sheet.freeze_panes(1, 0)
    for column, heading in enumerate(headings):
        sheet.set_column(column, column, max(12, len(heading) + 2))
    for number, row in enumerate(rows, start=1):
        sheet.write_row(number, 0, [_cell(v) for v in row])
    book.close()
    return out.getvalue()


def table_file(kind: str, name: str, headings: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """The rows under their headings as ``name.csv`` or ``name.xlsx``, to download."""
    data = csv_bytes(headings, rows) if kind == "csv" else _xlsx(name, headings, rows)
    disposition = f'attachment; filename="{name}.{kind}"'
    return Response(data, media_type=_TYPES[kind], headers={"Content-Disposition": disposition})


def personal_table_file(
    desk: Any, kind: str, name: str, headings: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    """:func:`table_file` of a list that names people, its download recorded as a security event by ``desk``."""
    listed = list(rows)
    record_personal_export(desk.actor, desk.school_id, name, kind, rows=len(listed))
    return table_file(kind, name, headings, listed)
