"""A report's files: JSON (canonical), CSV (one per table) and XLSX (a title sheet, frozen headers,
number and date formats), headings in the report's language (kk or ru; en for tests and guests).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import orjson
import xlsxwriter

from cloud_api.reports.build import CATEGORIES
from cloud_api.services.absences import REASON_WORDS
from shared.i18n import Translator, translator

__all__ = ["FORMATS", "canonical_json", "render"]

FORMATS = ("xlsx", "csv", "json")
TENGE = '#,##0.00 "₸"'
DATE = "DD.MM.YYYY"
# A table: its headings and its rows (a list, or once-only for the big ones only a CSV reads).
Table = tuple[list[str], Iterable[Sequence[Any]]]


def canonical_json(content: dict[str, Any]) -> bytes:
    """Sorted keys, no white space, UTF-8: the same content is the same bytes (and the same SHA-256)."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def _money(cell: dict[str, int]) -> list[Any]:
    return [cell["students"], cell["portions"], cell["paid_tiyn"] / 100, cell["state_tiyn"] / 100]


def _region_tables(content: dict[str, Any], _: Translator) -> dict[str, Table]:
    """A region's or the country's tables: meals and presence per day, then per school."""
    money = [_("Portions"), _("Paid by families, ₸"), _("Paid by the state, ₸")]
    days = [
        [date.fromisoformat(d["date"]), _(c), *_money(cell)]
        for d in content["days"]
        for c in CATEGORIES
        if (cell := d["meals"][c])["portions"]
    ]
    presence = [[date.fromisoformat(d["date"]), d["students"], d["staff"], d["anonymous"]] for d in content["days"]]
    by_school = [
        [s["school_id"], s["name"], _(c), *_money(cell)]
        for s in content["schools"]
        for c in CATEGORIES
        if (cell := s["meals"][c])["portions"]
    ]
    school_presence = [
        [s["school_id"], s["name"], s["student_days"], s["staff_days"], s["anonymous"]] for s in content["schools"]
    ]
    counts = [_("Students present"), _("Staff present"), _("Entries without consent")]
    return {
        "days": ([_("Date"), _("Category"), _("Students fed"), *money], days),
        "presence": ([_("Date"), *counts], presence),
        "schools": ([_("School"), _("School name"), _("Category"), _("Student-days"), *money], by_school),
        "school-presence": (
            [
                _("School"),
                _("School name"),
                _("Student-days present"),
                _("Staff-days present"),
                _("Entries without consent"),
            ],
            school_presence,
        ),
    }


def _tables(content: dict[str, Any], _: Translator) -> dict[str, Table]:
    """Each table of the report: name → (headings, rows); money in tenge, dates as dates."""
    if content["kind"] in ("region", "country"):
        return _region_tables(content, _)
    if content["kind"] == "meals":
        days = [
            [date.fromisoformat(d["date"]), _(c), *_money(cell)]
            for d in content["days"]
            for c in CATEGORIES
            if (cell := d["categories"][c])["portions"]
        ]
        dishes = [
            [
                date.fromisoformat(d["date"]),
                _(m["period"]),
                m["price_tiyn"] / 100,
                dish["names"].get(_.language) or next(iter(dish["names"].values()), ""),
                dish["price_tiyn"] / 100,
            ]
            for d in content["days"]
            for m in d["menus"]
            for dish in m["dishes"]
        ]
        classes = [
            [k["class"], _(c), *_money(cell)]
            for k in content["classes"]
            for c in CATEGORIES
            if (cell := k["categories"][c])["portions"]
        ]
        money = [_("Students fed"), _("Portions"), _("Paid by families, ₸"), _("Paid by the state, ₸")]
        tables: dict[str, Table] = {
            "days": ([_("Date"), _("Category"), *money], days),
            "dishes": ([_("Date"), _("Meal period"), _("Set meal price, ₸"), _("Dish"), _("Dish price, ₸")], dishes),
            "classes": ([_("Class"), _("Category"), _("Student-days"), *money[1:]], classes),
        }
        if rating := content.get("rating"):  # a month with ratings only: the others' files stay as they were
            tables["rating"] = (
                [_("Month"), _("Average rating (1 to 5 stars)"), _("Number of ratings")],
                [[content["month"], rating["average"], rating["count"]]],
            )
        return tables
    days = [
        [
            date.fromisoformat(d["date"]),
            _("yes") if d["working_day"] else _("no"),
            d["students"],
            d["staff"],
            d["anonymous"],
            None if d.get("future") else d["absent"],  # a day still to come: blank, not "0 absent"
        ]
        for d in content["days"]
    ]
    people = (  # a generator: only the CSV reads it (the XLSX has its табель), 65,000 rows of text
        (p["name"], p["class"] or "", v["date"], v["first_entry"] or "", v["last_exit"] or "")
        for p in content["people"]
        for v in p["days"]
    )
    headings = [
        _("Date"),
        _("Working day"),
        _("Students present"),
        _("Staff present"),
        _("Entries without consent"),
        _("Absent"),
    ]
    tables: dict[str, Table] = {
        "days": (headings, days),
        "people": ([_("Full name"), _("Class"), _("Date"), _("First entry"), _("Last exit")], people),
    }
    if any("excused" in d for d in content["days"]):
        # A month with excused days only: the others' files stay as they were.
        headings.append(_("Of them excused"))
        for row, d in zip(days, content["days"], strict=True):
            row.append(None if d.get("future") else d.get("excused", 0))
        excused = [
            [p["name"], p["class"] or "", date.fromisoformat(x["date"]), _(REASON_WORDS[x["reason"]])]
            for p in content["people"]
            for x in p.get("excused", [])
        ]
        tables["excused"] = ([_("Full name"), _("Class"), _("Date"), _("Reason")], excused)
    return tables


def tabel_mark(reason: str, _: Translator) -> str:
    """The табель's mark of an excused day: sick ("Б" in Russian), else another excused absence ("У")."""
    return _("tabel_mark_sick") if reason == "sick" else _("tabel_mark_excused")


def _csv(headings: list[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headings)
    # A column holds one type: convert the date columns only (a month's people table is 65,000 rows).
    rows = iter(rows)
    first = next(rows, None)
    if first is not None:
        rows = itertools.chain([first], rows)
        dated = [i for i, v in enumerate(first) if isinstance(v, date)]
        if dated:
            rows = ([v.isoformat() if i in dated else v for i, v in enumerate(row)] for row in rows)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # with a BOM: Excel opens Cyrillic right


def _tabel(sheet: Any, bold: Any, content: dict[str, Any], _: Translator) -> None:
    """The табель: a row per person, a column per day, "08:05–14:30" in each day present (a third of a
    month's cells are empty, and an empty cell is not written at all)."""
    days = [d["date"] for d in content["days"]]
    column = {day: n for n, day in enumerate(days, start=2)}
    headings = [_("Full name"), _("Class"), *(f"{d[8:10]}.{d[5:7]}" for d in days)]
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, len(headings) - 1, 12)
    sheet.freeze_panes(1, 2)
    sheet.write_row(0, 0, headings, bold)
    write = sheet.write_string
    for row, person in enumerate(content["people"], start=1):
        write(row, 0, person["name"])
        write(row, 1, person["class"] or "")
        for visit in person["days"]:
            write(row, column[visit["date"]], f"{visit['first_entry'] or '—'}–{visit['last_exit'] or '—'}")
        for excused in person.get("excused", []):
            write(row, column[excused["date"]], tabel_mark(excused["reason"], _))


def _xlsx(content: dict[str, Any], tables: dict[str, Table], _: Translator) -> bytes:
    # XlsxWriter, not openpyxl: the табель is a cell per person and day (70,000 in a big school's
    # month), and XlsxWriter writes them in half openpyxl's time (``mektep bench report`` measures
    # both). Strings stay strings: a dish named "=HYPERLINK(…)" must not become a formula.
    out = io.BytesIO()
    book = xlsxwriter.Workbook(
        out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "default_date_format": DATE}
    )
    title = book.add_worksheet(_("Report"))
    kind = {
        "meals": _("Meals report"),
        "attendance": _("Attendance report"),
        "region": _("Region report"),
        "country": _("Country report"),
    }[content["kind"]]
    title.set_column(0, 1, 24)
    title.write_row(0, 0, [kind], book.add_format({"bold": True, "font_size": 14}))
    about = [[_("Month"), content["month"]]]
    if content["kind"] == "region":
        about.insert(0, [_("Region"), content["region_id"]])
    elif content["kind"] != "country":
        about.insert(0, [_("School"), content["school_id"]])
    if rating := content.get("rating"):
        about += [[_("Average rating (1 to 5 stars)"), rating["average"]], [_("Number of ratings"), rating["count"]]]
    if any("excused" in p for p in content.get("people", [])):
        legend = (
            f"{tabel_mark('sick', _)}: {_('absence_reason_sick')}; {tabel_mark('family', _)}: {_('Excused absence')}"
        )
        about.append([_("Marks in the timesheet"), legend])
    for row, values in enumerate(about, start=1):
        title.write_row(row, 0, values)
    names = {
        "days": _("By day"),
        "dishes": _("Dishes"),
        "classes": _("By class"),
        "people": _("By person"),
        "presence": _("Presence by day"),
        "schools": _("By school"),
        "school-presence": _("Presence by school"),
        "rating": _("Meal ratings"),
        "excused": _("Excused absences"),
    }
    bold, money = book.add_format({"bold": True}), book.add_format({"num_format": TENGE})
    for name, (headings, rows) in tables.items():
        sheet = book.add_worksheet(names[name])
        if name == "people":
            _tabel(sheet, bold, content, _)
            continue
        for column, heading in enumerate(headings):
            # A column's format is what its unformatted cells show: money in tenge, the rest as is.
            sheet.set_column(column, column, max(12, len(heading) + 2), money if "₸" in heading else None)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, headings, bold)
        for number, row in enumerate(rows, start=1):
            sheet.write_row(number, 0, row)
    book.close()
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
