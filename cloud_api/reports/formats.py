"""A report's files: JSON (canonical), CSV (one per table) and XLSX (a title sheet, frozen headers,
number and date formats), headings in the report's language (kk or ru; en for tests and guests).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import orjson
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from cloud_api.reports.build import CATEGORIES
from mektep.i18n import Translator, translator

__all__ = ["FORMATS", "canonical_json", "render"]

FORMATS = ("xlsx", "csv", "json")
TENGE = '#,##0.00 "₸"'


def canonical_json(content: dict[str, Any]) -> bytes:
    """Sorted keys, no white space, UTF-8: the same content is the same bytes (and the same SHA-256)."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def _money(cell: dict[str, int]) -> list[Any]:
    return [cell["students"], cell["portions"], cell["paid_tiyn"] / 100, cell["state_tiyn"] / 100]


def _region_tables(content: dict[str, Any], _: Translator) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """A region's or the country's tables: meals and presence per day, then per school."""
    money = [_("Portions"), _("Paid by families, ₸"), _("Paid by the state, ₸")]
    days = [
        [date.fromisoformat(d["date"]), _(c), *_money(cell)]
        for d in content["days"] for c in CATEGORIES if (cell := d["meals"][c])["portions"]
    ]  # fmt: skip
    presence = [
        [date.fromisoformat(d["date"]), d["students"], d["staff"], d["anonymous"]] for d in content["days"]
    ]  # fmt: skip
    by_school = [
        [s["school_id"], s["name"], _(c), *_money(cell)]
        for s in content["schools"] for c in CATEGORIES if (cell := s["meals"][c])["portions"]
    ]  # fmt: skip
    school_presence = [
        [s["school_id"], s["name"], s["student_days"], s["staff_days"], s["anonymous"]] for s in content["schools"]
    ]  # fmt: skip
    counts = [_("Students present"), _("Staff present"), _("Entries without consent")]
    return {
        "days": ([_("Date"), _("Category"), _("Students fed"), *money], days),
        "presence": ([_("Date"), *counts], presence),
        "schools": ([_("School"), _("Name"), _("Category"), _("Student-days"), *money], by_school),
        "school-presence": (
            [_("School"), _("Name"), _("Student-days present"), _("Staff-days present"), _("Entries without consent")],
            school_presence,
        ),
    }


def _tables(content: dict[str, Any], _: Translator) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Each table of the report: name → (headings, rows); money in tenge, dates as dates."""
    if content["kind"] in ("region", "country"):
        return _region_tables(content, _)
    if content["kind"] == "meals":
        days = [
            [date.fromisoformat(d["date"]), _(c), *_money(cell)]
            for d in content["days"] for c in CATEGORIES if (cell := d["categories"][c])["portions"]
        ]  # fmt: skip
        dishes = [
            [date.fromisoformat(d["date"]), _(m["period"]), m["price_tiyn"] / 100,
             dish["names"].get(_.language) or next(iter(dish["names"].values()), ""), dish["price_tiyn"] / 100]
            for d in content["days"] for m in d["menus"] for dish in m["dishes"]
        ]  # fmt: skip
        classes = [
            [k["class"], _(c), *_money(cell)]
            for k in content["classes"] for c in CATEGORIES if (cell := k["categories"][c])["portions"]
        ]  # fmt: skip
        money = [_("Students fed"), _("Portions"), _("Paid by families, ₸"), _("Paid by the state, ₸")]
        return {
            "days": ([_("Date"), _("Category"), *money], days),
            "dishes": ([_("Date"), _("Meal period"), _("Set meal price, ₸"), _("Dish"), _("Dish price, ₸")], dishes),
            "classes": ([_("Class"), _("Category"), _("Student-days"), *money[1:]], classes),
        }
    days = [
        [date.fromisoformat(d["date"]), _("yes") if d["working_day"] else _("no"), d["students"], d["staff"],
         d["anonymous"], d["absent"]]
        for d in content["days"]
    ]  # fmt: skip
    people = [
        [p["name"], p["class"] or "", v["date"], v["first_entry"] or "", v["last_exit"] or ""]  # CSV only: text
        for p in content["people"] for v in p["days"]
    ]  # fmt: skip
    headings = [_("Date"), _("Working day"), _("Students present"), _("Staff present"), _("Entries without consent"),
                _("Absent")]  # fmt: skip
    return {
        "days": (headings, days),
        "people": ([_("Name"), _("Class"), _("Date"), _("First entry"), _("Last exit")], people),
    }


def _csv(headings: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headings)
    # A column holds one type: convert the date columns only (a month's people table is 65,000 rows).
    dated = [i for i, v in enumerate(rows[0]) if isinstance(v, date)] if rows else []
    if dated:
        rows = [[v.isoformat() if i in dated else v for i, v in enumerate(row)] for row in rows]
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # with a BOM: Excel opens Cyrillic right


def _sheet(sheet: Any, headings: list[str], rows: list[list[Any]]) -> None:
    # A write-only sheet: cells are streamed, so a month of a big school's people stays fast.
    for column, heading in enumerate(headings, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = max(12, len(heading) + 2)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    sheet.append([_styled(sheet, heading, font=bold) for heading in headings])
    money = ["₸" in heading for heading in headings]
    for row in rows:
        sheet.append([
            _styled(sheet, value, number_format="DD.MM.YYYY") if isinstance(value, date)
            else _styled(sheet, value, number_format=TENGE) if is_money else value
            for value, is_money in zip(row, money, strict=True)
        ])  # fmt: skip


def _styled(sheet: Any, value: Any, *, font: Font | None = None, number_format: str | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if font is not None:
        cell.font = font
    if number_format is not None:
        cell.number_format = number_format
    return cell


def _by_person(content: dict[str, Any], _: Translator) -> tuple[list[str], list[list[Any]]]:
    """The табель: a row per person, a column per day, "08:05–14:30" in each cell."""
    days = [d["date"] for d in content["days"]]
    headings = [_("Name"), _("Class"), *(f"{d[8:10]}.{d[5:7]}" for d in days)]
    rows = []
    for person in content["people"]:
        seen = {v["date"]: f"{v['first_entry'] or '—'}–{v['last_exit'] or '—'}" for v in person["days"]}
        # None, not "": an empty cell is not written at all (a third of a month's cells are weekends).
        rows.append([person["name"], person["class"] or "", *(seen.get(d) for d in days)])
    return headings, rows


def _xlsx(content: dict[str, Any], tables: dict[str, tuple[list[str], list[list[Any]]]], _: Translator) -> bytes:
    book = Workbook(write_only=True)
    title = book.create_sheet(_("Report"))
    kind = {"meals": _("Meals report"), "attendance": _("Attendance report"), "region": _("Region report"),
            "country": _("Country report")}[content["kind"]]  # fmt: skip
    title.append([_styled(title, kind, font=Font(bold=True, size=14))])
    if content["kind"] == "region":
        title.append([_("Region"), content["region_id"]])
    elif content["kind"] != "country":
        title.append([_("School"), content["school_id"]])
    title.append([_("Month"), content["month"]])
    names = {"days": _("By day"), "dishes": _("Dishes"), "classes": _("By class"), "people": _("By person"),
             "presence": _("Presence by day"), "schools": _("By school"),
             "school-presence": _("Presence by school")}  # fmt: skip
    for name, table in tables.items():
        _sheet(book.create_sheet(names[name]), *(_by_person(content, _) if name == "people" else table))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(content: dict[str, Any], formats: tuple[str, ...] = FORMATS, language: str = "ru") -> dict[str, bytes]:
    """The report's files by name: ``meals.json``, ``meals-days.csv``, ``meals.xlsx``, …"""
    _ = translator(language)
    kind = content["kind"]
    tables = _tables(content, _)
    files: dict[str, bytes] = {}
    if "json" in formats:
        files[f"{kind}.json"] = canonical_json(content)
    if "csv" in formats:
        files |= {f"{kind}-{name}.csv": _csv(*table) for name, table in tables.items()}
    if "xlsx" in formats:
        files[f"{kind}.xlsx"] = _xlsx(content, tables, _)
    return files
