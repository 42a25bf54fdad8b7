"""Cards in the office: give one (typed, or tapped on a desk reader), block one, and the lost-card flow.

    POST /office/schools/{school}/people/{id}/cards       give the person a card
    GET  /office/schools/{school}/cards/{card}/block      check, with the reason; POST blocks it
    GET  /office/schools/{school}/cards/{card}/lost       block a lost card and give a new one: the form; POST does it

A USB desk reader types the card's number like a keyboard and presses Enter: the number field is
focused where a card is expected, so tapping a card submits the form. Every change is one
transaction through :mod:`cloud_api.services.cards`, journalled, and reaches the readers with the
gateway's next roster pull.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import IntegrityError

from cloud_api.api.deps import require_same_origin
from cloud_api.core.errors import DomainError
from cloud_api.services.cards import (
    BlockReason,
    CardStatus,
    assign_card,
    block_card,
    get_card,
    number_hint,
    replace_lost_card,
)
from cloud_api.services.people import find_person
from cloud_api.web.office.console import AdminDesk, Desk, FormErrors, back
from cloud_api.web.office.people import card_hasher, person_page
from shared.contract import CredentialKind

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
KINDS = frozenset(kind.value for kind in CredentialKind if kind is not CredentialKind.MANUAL)
# Where each refusal of the cards service belongs on the form, and what it says there.
_FIELD_OF = {"card_already_assigned": "card_number", "card_not_active": "card_number"}


def _number_problem(desk: Desk, number: str) -> str | None:
    if not number.strip():
        return desk._("Type the card number, or tap the card on the desk reader.")
    if len(number) > 256:
        return desk._("A card number is at most 256 characters.")
    return None


@router.post("/office/schools/{school_id}/people/{person_id}/cards", dependencies=_checked, response_model=None)
def give_card(
    desk: AdminDesk,
    person_id: UUID,
    card_number: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=16)] = "em4100",
) -> Response:
    """Give the person a card; the page again with the reason when it cannot be given."""
    form = {"card_number": card_number, "kind": kind}
    errors = FormErrors()
    hasher = card_hasher(desk)
    if (problem := _number_problem(desk, card_number)) is not None:
        errors.add("card_number", problem)
    if kind not in KINDS:
        errors.add("kind", desk._("Choose the kind of card."))
    if hasher is None:
        errors.add("card_number", desk._("credential_key_not_set"))
    if errors:
        return person_page(desk, person_id, errors=errors, form=form, status=422)
    try:
        with desk.engine.begin() as conn:
            assign_card(
                conn,
                desk.school_id,
                person_id,
                CredentialKind(kind),
                hasher(card_number),
                actor=desk.actor,
                hint=number_hint(card_number),
            )
    except (DomainError, IntegrityError) as refused:
        code = refused.code if isinstance(refused, DomainError) else "card_already_assigned"
        errors.add(_FIELD_OF.get(code, "card_number"), desk._(code))
        return person_page(desk, person_id, errors=errors, form=form, status=422)
    return back(f"{desk.base}/people/{person_id}?done=card_given#cards")


def _card_and_holder(desk: Desk, card_id: UUID) -> tuple[dict[str, Any], dict[str, Any]]:
    with desk.engine.connect() as conn:
        card = get_card(conn, desk.school_id, card_id)
        holder = find_person(conn, desk.school_id, card["person_id"])
    if holder is None or card["status"] != CardStatus.ACTIVE:
        raise DomainError("card_not_active")
    return card, holder


def _card_page(
    desk: Desk,
    name: str,
    card_id: UUID,
    *,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    card, holder = _card_and_holder(desk, card_id)
    title = desk._("Lost card") if name.endswith("lost.html") else desk._("Block a card")
    return desk.page(
        name,
        title=title,
        status=status,
        card=card,
        holder=holder,
        reasons=[r.value for r in BlockReason],
        errors=errors or FormErrors(),
        form=form or {},
    )


@router.get("/office/schools/{school_id}/cards/{card_id}/block", response_class=HTMLResponse)
def block_page(desk: AdminDesk, card_id: UUID) -> HTMLResponse:
    """Check before blocking: whose card, and why."""
    return _card_page(desk, "office/card_block.html", card_id)


@router.post("/office/schools/{school_id}/cards/{card_id}/block", dependencies=_checked, response_model=None)
def block_form(desk: AdminDesk, card_id: UUID, reason: Annotated[str, Form(max_length=16)] = "") -> Response:
    """Block the card: every reader of the school refuses it from the gateway's next sync."""
    if reason not in {r.value for r in BlockReason}:
        errors = FormErrors()
        errors.add("reason", desk._("Choose why the card is blocked."))
        return _card_page(desk, "office/card_block.html", card_id, errors=errors, status=422)
    with desk.engine.begin() as conn:
        holder = block_card(conn, desk.school_id, card_id, actor=desk.actor, reason=BlockReason(reason))
    return back(f"{desk.base}/people/{holder}?done=card_now_blocked#cards")


@router.get("/office/schools/{school_id}/cards/{card_id}/lost", response_class=HTMLResponse)
def lost_page(desk: AdminDesk, card_id: UUID) -> HTMLResponse:
    """A lost card: the new card's number, and what will happen to the old one."""
    return _card_page(desk, "office/card_lost.html", card_id)


@router.post("/office/schools/{school_id}/cards/{card_id}/lost", dependencies=_checked, response_model=None)
def lost_form(desk: AdminDesk, card_id: UUID, card_number: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """Block the lost card and give its holder the new one, in one change."""
    errors = FormErrors()
    hasher = card_hasher(desk)
    if (problem := _number_problem(desk, card_number)) is not None:
        errors.add("card_number", problem)
    elif hasher is None:
        errors.add("card_number", desk._("credential_key_not_set"))
    if not errors:
        try:
            with desk.engine.begin() as conn:
                new = replace_lost_card(
                    conn, desk.school_id, card_id, hasher(card_number), actor=desk.actor, hint=number_hint(card_number)
                )
                holder = get_card(conn, desk.school_id, new)["person_id"]
            return back(f"{desk.base}/people/{holder}?done=card_replaced#cards")
        except (DomainError, IntegrityError) as refused:
            code = refused.code if isinstance(refused, DomainError) else "card_already_assigned"
            errors.add("card_number", desk._(code))
    return _card_page(
        desk, "office/card_lost.html", card_id, errors=errors, form={"card_number": card_number}, status=422
    )
