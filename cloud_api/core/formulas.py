"""Text a spreadsheet would run: a name that begins like a formula is refused where it comes in.

The reports' CSV files go to the education authority and the ministry, where they are opened in
Excel; a cell beginning with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one)
is run there as a formula (OWASP: CSV injection). Escaping it in the CSV would change the data that
machines read, so the names that reach a report (people from the roster import, dishes from the
canteen) are refused instead when they begin so; no real name or dish does. The XLSX keeps every
string a string whatever it holds (:mod:`cloud_api.reports.formats`).
"""

from __future__ import annotations

__all__ = ["FORMULA_STARTS", "starts_like_a_formula"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def starts_like_a_formula(text: str) -> bool:
    """Whether a spreadsheet opening ``text`` from a CSV would take it for a formula."""
    return text.startswith(FORMULA_STARTS)
