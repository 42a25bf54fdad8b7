"""What a guardian's phone shows for an event: entry, exit, a meal, a refused meal; in their language.

A refused meal says why and what for (the allergen or kind of dish the guardian forbade); a meal's
dishes are named in the guardian's language.

The text comes from the catalogs (kk, ru, en); dates, times and money are written by the translator
(:mod:`shared.i18n`) as on the pages, in the school's local time (Asia/Almaty). An event that reached the cloud late
(the school's gateway was offline) says so and when it happened, rather than pretending to be live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloud_api.services.dish_names import DishNames
from shared.i18n import translator
from shared.localtime import LOCAL_TZ

__all__ = ["MEAL_DENIALS", "Notice", "compose", "compose_family", "notice_kind"]

# Why a meal may be refused to a known child: worth a guardian's notice (a lost card is the admin's).
MEAL_DENIALS = frozenset(
    {
        "already_served",
        "allergen_conflict",
        "category_banned",
        "daily_limit",
        "insufficient_balance",
        "no_set_meal",
        "not_eligible",
    }
)
_TEXT = {
    "entry": "{name} came to school: {date}, {time}",
    "exit": "{name} left school: {date}, {time}",
    "meal": "{name}: {period}, {date}, {time}. {dishes}. {category}, {price}",
    "meal_free": "{name}: {period}, {date}, {time}. {dishes}. Free meal",
    "denied": "{name} was not served ({date}, {time}). Reason: {reason}",
}
_FAMILY_TEXT = {
    "low_balance": ("{name}'s meal balance is {balance}, below {threshold}. Top it up so that the child can eat"),
    "not_arrived": "{name} has not come to school by {time} ({date})",
    "left_early": "{name} left school at {time}, before the end of the school day at {end}",
}
# A sentence of its own in the notice, so a label that begins with a capital.
_CATEGORY = {"discounted": "Discounted meal", "paid": "Paid meal"}


@dataclass(frozen=True, slots=True)
class Notice:
    """A push message: what the service worker shows, and what it opens when tapped."""

    title: str
    body: str
    tag: str  # one notice per child and kind: a newer one replaces it on the lock screen
    late: bool
    event_id: str

    def payload(self) -> dict[str, Any]:
        """The JSON the service worker receives."""
        return {"title": self.title, "body": self.body, "tag": self.tag, "late": self.late, "event_id": self.event_id}


def notice_kind(kind: str, decision: str, reason: str) -> str | None:
    """Which notice an event makes (``entry``, ``exit``, ``meal``, ``denied``), or None for none."""
    if decision == "granted" and kind in ("entry", "exit", "meal"):
        return kind
    if kind == "denied" and reason in MEAL_DENIALS:
        return "denied"
    return None


def compose(
    event: dict[str, Any],
    child_name: str,
    language: str | None,
    *,
    received_at: datetime,
    late_after: timedelta,
    dishes: DishNames | None = None,
) -> Notice:
    """The notice of one stored event (an ``events`` row as a mapping) for a guardian speaking ``language``.

    A refusal names what it was for (the banned allergens or kinds of dish); a meal's dishes are
    named in ``language`` when ``dishes`` knows them, else as the gateway recorded them.
    """
    _ = translator(language)
    reason = _(event["reason"])
    if detail := event.get("reason_detail"):
        reason = f"{reason}: {', '.join(_(item) for item in detail)}"
    kind = notice_kind(event["kind"], event["decision"], event["reason"]) or "entry"
    local = event["occurred_at"].astimezone(LOCAL_TZ)
    values: dict[str, Any] = {
        "name": child_name,
        "time": _.time(local),
        "date": _.date(local),
        "reason": reason,
    }
    template = _TEXT[kind]
    meal = event.get("meal") or {}
    if kind == "meal":
        values |= {
            "period": _(meal.get("period", "")),
            "dishes": ", ".join(_served(meal.get("dishes") or [], dishes, language)),
            "category": _(_CATEGORY.get(meal.get("category", ""), "Paid meal")),
            "price": _.money(int(meal.get("price_tiyn", 0))),
        }
        if meal.get("category") == "free":
            template = _TEXT["meal_free"]
    body = _(template, **values)
    late = received_at - event["occurred_at"] > late_after
    if late:
        body = f"{body} {_('(sent late: the school was offline)')}"
    return Notice(
        title=_("Mektep Gate"), body=body, tag=f"{event['person_id']}:{kind}", late=late, event_id=str(event["id"])
    )


def compose_family(kind: str, facts: dict[str, Any], person_id: str, child_name: str, language: str | None) -> Notice:
    """The notice of a family notice that is no event (:mod:`cloud_api.push.notices`) in ``language``."""
    _ = translator(language)
    values: dict[str, Any] = {"name": child_name}
    if kind == "low_balance":
        values |= {"balance": _.money(int(facts["balance_tiyn"])), "threshold": _.money(int(facts["threshold_tiyn"]))}
    else:
        local = datetime.fromisoformat(facts["deadline" if kind == "not_arrived" else "at"]).astimezone(LOCAL_TZ)
        values |= {"time": _.time(local), "date": _.date(local), "end": facts.get("end", "")}
    return Notice(
        title=_("Mektep Gate"), body=_(_FAMILY_TEXT[kind], **values), tag=f"{person_id}:{kind}", late=False, event_id=""
    )


def _served(names: list[str], dishes: DishNames | None, language: str | None) -> list[str]:
    return names if dishes is None else dishes.all_of(names, language)
