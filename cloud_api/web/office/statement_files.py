"""A child's statement as a secretary and a parent read it: each line in words, and the same as a file.

The office downloads it as a PDF or an XLSX, the parent app as a CSV or an XLSX, all from
:func:`statement_file`. The PDF is drawn with fpdf2 in DejaVu Sans (shipped in ``cloud_api/fonts``: Kazakh and Russian
letters, and the tenge sign), money written by Babel as on the page. The workbook is written with
xlsxwriter, as every other download of the office: amounts are numbers in tenge (a secretary sums
them), dates are dates, and nothing in it is a formula.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import xlsxwriter
from fastapi.responses import Response
from fpdf import FPDF
from fpdf.fonts import FontFace

from cloud_api.services.statements import Statement, StatementLine, tenge
from cloud_api.web.office.downloads import csv_bytes
from shared.i18n import Translator

__all__ = [
    "Heading",
    "StatementFormat",
    "describe",
    "kind_words",
    "method_words",
    "statement_csv",
    "statement_file",
    "statement_pdf",
    "statement_rows",
    "statement_xlsx",
]

StatementFormat = Literal["pdf", "xlsx", "csv"]
_MEDIA = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}

FONTS = Path(__file__).resolve().parent.parent.parent / "fonts"


def kind_words(_: Translator) -> dict[str, str]:
    """What each kind of ledger entry is called."""
    return {"top_up": _("Top-up"), "correction": _("Correction"), "meal": _("Meal")}


def method_words(_: Translator) -> dict[str, str]:
    """How a top-up was paid."""
    return {"cash": _("cash"), "bank_transfer": _("bank transfer")}


def describe(line: StatementLine, _: Translator) -> str:
    """What a line is, in a sentence's words: the meal and its dishes, the receipt, the correction's reason."""
    if line.kind == "meal":
        text = _(line.period) if line.period else _("Meal")
        if line.dishes:
            text += ": " + ", ".join(line.dishes)
        return text + (f" ({_(line.category)})" if line.category == "discounted" else "")
    if line.kind == "top_up":
        parts = [method_words(_).get(line.method or "", "")]
        if line.receipt:
            parts.append(_("receipt No. {receipt}", receipt=line.receipt))
        if line.paid_on and line.paid_on != line.at.date():
            parts.append(_("paid on {date}", date=_.date(line.paid_on)))
        return ", ".join(p for p in parts if p)
    return line.note or ""


@dataclass(frozen=True)
class Heading:
    """Whose statement, at which school, made when."""

    school: str
    child: str
    class_name: str | None
    made_at: datetime  # local


def statement_pdf(statement: Statement, heading: Heading, _: Translator) -> bytes:
    """The statement as an A4 PDF: who, the period, opening and closing balance, each line, the totals."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(_("Statement: {name}", name=heading.child))
    pdf.set_creator("Mektep Gate")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(0, 7, _("Statement of the balance for meals"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    who = heading.child + (f", {heading.class_name}" if heading.class_name else "")
    for label, value in (
        (_("School"), heading.school),
        (_("Pupil"), who),
        (_("Statement period"), f"{_.date(statement.first)} – {_.date(statement.last)}"),
        (_("Balance at the start"), _.money(statement.opening_tiyn)),
        (_("Balance at the end"), _.money(statement.closing_tiyn)),
    ):
        pdf.multi_cell(0, 5.5, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 8.5)
    kinds = kind_words(_)
    bold = FontFace(emphasis="BOLD", fill_color=(230, 234, 240))
    with pdf.table(
        col_widths=(30, 24, 84, 26, 26),
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"),
        headings_style=bold,
        line_height=4.6,
    ) as table:
        table.row([_("Date"), _("What"), _("Details"), _("Amount"), _("Balance")])
        for line in statement.lines:
            sign = "+" if line.amount_tiyn > 0 else ""
            table.row(
                [
                    f"{_.date(line.at)} {_.time(line.at)}",
                    kinds.get(line.kind, line.kind),
                    describe(line, _),
                    sign + _.money(line.amount_tiyn),
                    _.money(line.balance_tiyn),
                ]
            )
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 10)
    for label, value in (
        (_("Credited in the period"), _.money(statement.credited_tiyn)),
        (
            _("Meals in the period"),
            f"{_.money(statement.charged_tiyn)} ({_.plural('{n} meal charged', '{n} meals charged', statement.meals)})",
        ),
    ):
        pdf.multi_cell(0, 5.5, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    made = _("Made on {date} at {time}", date=_.date(heading.made_at), time=_.time(heading.made_at))
    pdf.multi_cell(0, 5, made, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def statement_xlsx(statement: Statement, heading: Heading, _: Translator) -> bytes:
    """The statement as a workbook: a few lines about it, then one row a ledger line, amounts in tenge as numbers."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet(_("Statement")[:31])
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})
    when = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
    day = book.add_format({"num_format": "dd.mm.yyyy"})
    about: list[tuple[str, Any, Any]] = [
        (_("School"), heading.school, None),
        (_("Pupil"), heading.child, None),
        (_("Class"), heading.class_name or "", None),
        (_("From"), statement.first, day),
        (_("To"), statement.last, day),
        (_("Balance at the start"), tenge(statement.opening_tiyn), money),
        (_("Balance at the end"), tenge(statement.closing_tiyn), money),
    ]
    for row, (label, value, style) in enumerate(about):
        sheet.write_string(row, 0, label, bold)
        if isinstance(value, str):
            sheet.write_string(row, 1, value)
        elif style is day:
            sheet.write_datetime(row, 1, datetime.combine(value, datetime.min.time()), day)
        else:
            sheet.write_number(row, 1, value, style)
    top = len(about) + 1
    sheet.write_row(top, 0, _headings(_), bold)
    sheet.freeze_panes(top + 1, 0)
    for number, (at, kind, details, amount, balance) in enumerate(statement_rows(statement, _), start=top + 1):
        sheet.write_datetime(number, 0, at, when)
        sheet.write_string(number, 1, kind)
        sheet.write_string(number, 2, details)
        sheet.write_number(number, 3, amount, money)
        sheet.write_number(number, 4, balance, money)
    for column, width in enumerate((22, 16, 48, 14, 14)):
        sheet.set_column(column, column, width)
    book.close()
    return out.getvalue()


def _headings(_: Translator) -> list[str]:
    return [_("Date"), _("What"), _("Details"), _("Amount, ₸"), _("Balance, ₸")]


def statement_rows(statement: Statement, _: Translator) -> list[list[Any]]:
    """Each line as a spreadsheet's row: the local time, what, the details, the amount and the balance in tenge."""
    kinds = kind_words(_)
    return [
        [
            line.at.replace(tzinfo=None),
            kinds.get(line.kind, line.kind),
            describe(line, _),
            tenge(line.amount_tiyn),
            tenge(line.balance_tiyn),
        ]
        for line in statement.lines
    ]


def statement_csv(statement: Statement, _: Translator) -> bytes:
    """The statement as CSV: the balance at the start, then one row a ledger line with the balance after it."""
    opening = [statement.first, _("Balance at the start"), "", "", tenge(statement.opening_tiyn)]
    return csv_bytes(_headings(_), [opening, *statement_rows(statement, _)])


def statement_file(statement: Statement, heading: Heading, kind: StatementFormat, stem: str, _: Translator) -> Response:
    """The statement as a file to download, named ``stem`` (a browser without ``filename*`` gets it in ASCII)."""
    if kind == "pdf":
        data = statement_pdf(statement, heading, _)
    elif kind == "xlsx":
        data = statement_xlsx(statement, heading, _)
    else:
        data = statement_csv(statement, _)
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem)
    disposition = f"attachment; filename=\"{ascii_stem}.{kind}\"; filename*=UTF-8''{quote(stem, safe='')}.{kind}"
    return Response(data, media_type=_MEDIA[kind], headers={"Content-Disposition": disposition})
