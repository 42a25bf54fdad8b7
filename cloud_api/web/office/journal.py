"""The audit journal in the office (Order No. 456 §5): who changed what, when, before and after, in words.

    GET /office/schools/{school}/journal?person=&kind=&who=&from=&to=&before=

Filters: the person the change concerns (their id, from their page's link), the kind of record,
who made it (a login), and a period of local days. Each entry is shown as sentences of the
reader's language ("Class: 3А → 4А"), never as JSON.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from cloud_api.core.errors import DomainError
from cloud_api.services.accounts import account_by_login, logins_of, normalise_login
from cloud_api.services.audit import account_of_actor, audit_page
from cloud_api.services.cards import cards_of
from cloud_api.services.people import find_person
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, typed_date
from cloud_api.web.office.downloads import personal_table_file
from cloud_api.web.office.words import Words
from shared.i18n import LANGUAGE_NAMES
from shared.localtime import LOCAL_TZ

__all__ = ["describe", "router"]

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
KINDS = (
    "person",
    "guardianship",
    "credential",
    "consent",
    "person_photo",
    "allergen_bans",
    "account",
    "role",
    "roster_import",
    "export",
    "canteen_pin",
    "dish",
    "meal_rules",
    "set_meal",
)


def _value(desk: Desk, key: str, value: Any) -> str:
    _ = desk._
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    words = Words(_)
    named = {"status": words.card_state, "reason": words.block_reason, "kind": words.credential}
    if key in named and isinstance(value, str):
        return named[key].get(value, value)
    if key == "language" and value in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[value]
    if key == "signed_on" and isinstance(value, str):
        return _.date(date.fromisoformat(value))
    if key == "role" and isinstance(value, str):
        return words.person_role.get(value, value)
    if key == "price_tiyn" and isinstance(value, int):
        return _.money(value)
    if key == "dish_ids" and isinstance(value, list):
        return str(_.plural("{n} dish", "{n} dishes", len(value)))
    if key == "meal_category" and isinstance(value, str):
        return _(value)
    if isinstance(value, list):
        return ", ".join(_(str(v)) for v in value)
    return str(value)


def _field_names(_: Any) -> dict[str, str]:
    """Each field a journal entry may hold, named as the pages name it."""
    return {
        "last_name": _("Surname"),
        "first_name": _("Name"),
        "middle_name": _("Patronymic"),
        "class_name": _("Class"),
        "grade": _("Grade"),
        "meal_category": _("Meals"),
        "discount_percent": _("Discount, %"),
        "phone": _("Phone"),
        "email": _("E-mail"),
        "active": _("At school"),
        "language": _("Language"),
        "role": _("Role"),
        "status": _("State"),
        "given": _("Consent given"),
        "paper": _("Reference of the paper"),
        "signed_on": _("Date on the paper"),
        "reason": _("Reason"),
        "kind": _("Kind"),
        "number_hint": _("Card"),
        "iin": _("IIN"),
        "allergens": _("Allergen bans"),
        "sha256": _("Photo"),
        "hidden": _("Comment hidden"),  # a meal rating's comment, by the school administrator
        "asked": _("Asked for"),
        "downloaded": _("Downloaded"),
        "set": _("PIN-code set"),
        "file": _("File"),
        "created": _("Added"),
        "updated": _("Changed"),
        "left": _("Marked as gone"),
        "refused_rows": _("Refused rows"),
        "complete": _("The whole school"),
        "login": _("Login"),
        "display_name": _("Name"),
        "limit_tiyn": _("Daily limit"),
        "price_tiyn": _("Price"),
        "dish_ids": _("Dishes"),
    }


_HIDDEN = {"by", "person_id", "guardian_id", "child_id"}


def describe(desk: Desk, entry: dict[str, Any]) -> list[str]:
    """An entry's change as lines a person reads: "Class: 3А → 4А" (photos and ids said in words)."""
    before, after = entry["before"] or {}, entry["after"] or {}
    names = _field_names(desk._)
    lines = []
    for key in dict.fromkeys([*before, *after]):
        if key in _HIDDEN:
            continue
        label = names.get(key, key)
        if key == "sha256":
            said = {True: desk._("yes"), False: desk._("none")}
            lines.append(f"{label}: {said[bool(before.get(key))]} → {said[bool(after.get(key))]}")
            continue
        old, new = _value(desk, key, before.get(key)), _value(desk, key, after.get(key))
        lines.append(f"{label}: {new}" if key not in before else f"{label}: {old} → {new}")
    return lines


@router.get("/office/schools/{school_id}/journal", response_class=HTMLResponse)
def journal_page(
    desk: AdminDesk,
    person: Annotated[str, Query(max_length=64)] = "",
    kind: Annotated[str, Query(max_length=32)] = "",
    who: Annotated[str, Query(max_length=254)] = "",
    since: Annotated[str, Query(alias="from", max_length=32)] = "",
    until: Annotated[str, Query(alias="to", max_length=32)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    format: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """The school's journal, newest first, filtered; paged by the last entry seen."""
    _ = desk._
    errors = FormErrors()
    first, last = typed_date(since), typed_date(until)
    if since and first is None:
        errors.add("from", _("Enter a date, for example 03.09.2026."))
    if until and last is None:
        errors.add("to", _("Enter a date, for example 03.09.2026."))
    if first and last and last < first:
        errors.add("to", _("The end of the period comes before its start."))
    with desk.engine.connect() as conn:
        actor = None
        if who.strip():
            try:
                account = account_by_login(conn, normalise_login(who))
            except DomainError:
                account = None
                errors.add("who", _("Enter a login: an e-mail or a phone number."))
            actor = f"account:{account.id}" if account is not None else "nobody"
        subject = find_person(conn, desk.school_id, UUID(person)) if _is_uuid(person) else None
        # A person's records: their row, photo and consent by their id, their cards by the cards'. A
        # person the school does not have has none (never the whole journal instead).
        about = None
        if person:
            about = [] if subject is None else [str(subject["id"])]
            if subject is not None:
                about += [str(c["id"]) for c in cards_of(conn, desk.school_id, subject["id"])]
        rows = (
            []
            if errors or about == []
            else audit_page(
                conn,
                desk.school_id,
                entity=kind if kind in KINDS else None,
                entity_ids=about,
                actor=actor,
                since=_start(first),
                until=_start(last + timedelta(days=1)) if last else None,
                before_id=before,
                limit=10_000 if format in ("csv", "xlsx") else PER_PAGE,
            )
        )
        logins = logins_of(conn, filter(None, (account_of_actor(r["actor"]) for r in rows)))
    entries = [
        {**r, "who": logins.get(account_of_actor(r["actor"]), r["actor"]), "lines": describe(desk, r)} for r in rows
    ]
    if format in ("csv", "xlsx"):
        headings = [_("When"), _("Who"), _("What"), _("Record"), _("Change")]
        words = Words(_)
        cells = (
            [
                e["at"].astimezone(LOCAL_TZ).replace(tzinfo=None),
                e["who"],
                words.action.get(e["action"]),
                words.record.get(e["entity"]),
                "; ".join(e["lines"]),
            ]
            for e in entries
        )
        return personal_table_file(desk, format, f"journal-{desk.school_id}", headings, cells)
    filters = {"person": person if subject else "", "kind": kind, "who": who, "from": since, "to": until}
    return desk.page(
        "office/journal.html",
        title=_("Audit journal"),
        status=422 if errors else 200,
        entries=entries,
        subject=subject,
        filters=filters,
        errors=errors,
        next_before=entries[-1]["id"] if len(entries) == PER_PAGE else None,
        query=urlencode({k: v for k, v in filters.items() if v}),
    )


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def _start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), LOCAL_TZ)
