"""What a gateway pulls: the school's roster after the version it holds.

:func:`build_delta` answers a full snapshot for a gateway that holds nothing (``since == 0``) or
holds a version the cloud never issued, and otherwise only what changed after ``since``: every
row that changed carries the version of its change, so "what changed" is ``version > since`` on
each table, one set-based query each and never a query per person.

What a gateway is told of a person is the least it needs to decide at the door and the canteen:
no IIN, no contact details; a display name of first name and last initial, which is enough for
the canteen staff's visual check, lengthened only as far as it takes to tell apart two people the
screen would show alike (:mod:`cloud_api.roster.display_names`). Such a name depends on the
others': a delta that sends a changed person sends again whoever shares their short name.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from cloud_api.db.dialect import dialect_insert
from cloud_api.db.schema import (
    allergen_bans,
    balance_entries,
    canteen_pins,
    consents,
    credentials,
    daily_limits,
    packets,
    people,
    person_photos,
    wallet_vouchers,
)
from cloud_api.roster.display_names import FullName, confusable, display_names, short_name
from cloud_api.services.canteen_pins import pins_of
from cloud_api.services.consent import consents_of
from cloud_api.services.menus import bans_of, category_bans_of, current_dishes, current_meal_rules, menu_from
from cloud_api.services.photos import person_photos_of
from cloud_api.services.prepaid import Account, accounts_of, daily_limits_of
from cloud_api.services.roster_versions import current_version
from cloud_api.services.signatures import Refusal, Refused, SignedBody
from cloud_api.social_wallet.vouchers import vouchers_of
from shared.localtime import local_date
from shared.roster_contract import (
    ROSTER_CONTRACT,
    DishCategory,
    RosterCredential,
    RosterDelta,
    RosterPerson,
    fields_after,
)

__all__ = ["answer_pull", "build_delta", "roster_names"]


def build_delta(
    conn: Connection,
    school_id: str,
    since: int,
    now: datetime | None = None,
    *,
    wallet_public_key: str | None = None,
) -> RosterDelta:
    """The delta of ``school_id`` after version ``since`` (a full snapshot when it must be).

    ``wallet_public_key``: the key the Social Wallet's QR codes verify with (the deployment's
    setting), sent in every delta so that a changed setting reaches the gateways at their next pull.
    """
    version = current_version(conn, school_id)
    full = since <= 0 or since > version
    after = 0 if full else since
    changed = _changed_people(conn, school_id, after)
    # Guardians never tap at the school: the gateway holds students and staff only.
    query = select(people).where(people.c.school_id == school_id, people.c.role.in_(("student", "staff")))
    person_rows = conn.execute(query if full else query.where(people.c.id.in_(changed))).all()
    # The full snapshot has everyone's name at hand; a delta that sends anyone reads the school's names.
    names = _Names(person_rows if full else _tappers(conn, school_id) if person_rows else [])
    if not full and person_rows:
        # A name lengthened to tell two people apart changes with the other one: whoever shares a
        # changed person's short name goes again, named as the school now reads.
        sent = {row.id for row in person_rows}
        also = [key for key in names.sharing(person_rows) if key not in sent]
        if also:
            person_rows = [*person_rows, *conn.execute(query.where(people.c.id.in_(also))).all()]
    ids = [row.id for row in person_rows]
    consent = consents_of(conn, school_id, None if full else ids)
    bans = bans_of(conn, school_id, None if full else ids)
    kinds = category_bans_of(conn, school_id, None if full else ids)
    limits = daily_limits_of(conn, school_id, None if full else ids)
    accounts = accounts_of(conn, school_id, None if full else ids)
    faces = person_photos_of(conn, school_id, None if full else ids)
    pins = pins_of(conn, school_id, None if full else ids)
    qr_consent = consents_of(conn, school_id, None if full else ids, "qr")
    vouchers = vouchers_of(conn, school_id, None if full else ids)
    cards = conn.execute(
        select(credentials.c.credential_hash, credentials.c.person_id, credentials.c.kind, credentials.c.status).where(
            credentials.c.school_id == school_id, credentials.c.version > after
        )
    )
    rules = current_meal_rules(conn, school_id)
    today = local_date(now or datetime.now(UTC))
    return RosterDelta(
        school_id=school_id,
        since=after,
        version=version,
        full=full,
        people=[
            _person(
                row,
                names.of(row),
                consent.get(row.id, False),
                bans.get(row.id, []),
                limits.get(row.id),
                accounts.get(row.id),
            ).model_copy(
                update={
                    "photo_sha256": faces.get(row.id),
                    "canteen_pin_hash": pins.get(row.id),
                    "qr_consent": qr_consent.get(row.id, False),
                    "wallet_voucher_id": vouchers.get(row.id) if row.role == "student" else None,
                    "category_bans": [DishCategory(k) for k in kinds.get(row.id, [])],
                }
            )
            for row in person_rows
        ],
        credentials=[
            RosterCredential(
                credential_hash=c.credential_hash, person_id=c.person_id, kind=c.kind, blocked=c.status != "active"
            )
            for c in cards
        ],
        meal_rules=rules[0] if rules is not None and rules[1] > after else None,
        dishes=current_dishes(conn, school_id, after),
        menu=menu_from(conn, school_id, today, after),
        wallet_public_key=wallet_public_key,
    )


class _Names:
    """The display names of the people who tap at a school, each told apart from those it could be taken for."""

    def __init__(self, rows: Iterable[Any]) -> None:
        groups: defaultdict[Hashable, dict[UUID, FullName]] = defaultdict(dict)
        for row in rows:
            if row.active:  # those who left keep their short name, and make no one else's longer
                groups[_confusable(row)][row.id] = _full_name(row)
        self._groups = dict(groups)
        self._names = {key: name for group in groups.values() for key, name in display_names(group).items()}

    def of(self, row: Any) -> str:
        """The name of the person ``row``: as told apart, or (one who left) short."""
        return self._names.get(row.id) or short_name(_full_name(row))

    def sharing(self, rows: Iterable[Any]) -> list[UUID]:
        """Everyone still at the school who shares a short name (and role, and class) with one of ``rows``.

        Those of one who left too: their names may be shorter now.
        """
        keys = {_confusable(row) for row in rows}
        return [person for key in keys for person in self._groups.get(key, {})]


def _full_name(row: Any) -> FullName:
    return FullName(row.first_name, row.last_name, row.middle_name)


def _confusable(row: Any) -> Hashable:
    return confusable(row.role, row.class_name, _full_name(row))


def _tappers(conn: Connection, school_id: str) -> list[Any]:
    """The names of everyone who taps at the school and is still there (what telling names apart needs)."""
    p = people.c
    return list(
        conn.execute(
            select(p.id, p.role, p.class_name, p.first_name, p.last_name, p.middle_name, p.active).where(
                p.school_id == school_id, p.role.in_(("student", "staff")), p.active
            )
        )
    )


def roster_names(conn: Connection, school_id: str) -> dict[UUID, str]:
    """The display name of each student and staff member still at the school, as the gateways get it."""
    tappers = _tappers(conn, school_id)
    names = _Names(tappers)
    return {UUID(str(row.id)): names.of(row) for row in tappers}


def _changed_people(conn: Connection, school_id: str, after: int) -> Any:
    # A person changes with their own row, and with their consent, bans, limit, credits, photo, PIN
    # or Social Wallet voucher.
    return (
        select(people.c.id)
        .where(people.c.school_id == school_id, people.c.version > after)
        .union(
            select(consents.c.child_id).where(consents.c.school_id == school_id, consents.c.version > after),
            select(allergen_bans.c.child_id).where(
                allergen_bans.c.school_id == school_id, allergen_bans.c.version > after
            ),
            select(daily_limits.c.child_id).where(
                daily_limits.c.school_id == school_id, daily_limits.c.version > after
            ),
            select(person_photos.c.person_id).where(
                person_photos.c.school_id == school_id, person_photos.c.version > after
            ),
            select(canteen_pins.c.person_id).where(
                canteen_pins.c.school_id == school_id, canteen_pins.c.version > after
            ),
            select(wallet_vouchers.c.child_id).where(
                wallet_vouchers.c.school_id == school_id, wallet_vouchers.c.version > after
            ),
            # A charge has no version (NULL > after is not true): the gateway counted it itself.
            select(balance_entries.c.person_id).where(
                balance_entries.c.school_id == school_id, balance_entries.c.version > after
            ),
        )
        .scalar_subquery()
    )


def _person(
    row: Any, name: str, consent: bool, bans: list[str], limit: int | None, account: Account | None
) -> RosterPerson:
    category = row.meal_category if row.role == "student" else None
    account = account or Account(0, 0)
    return RosterPerson(
        id=row.id,
        role="staff" if row.role == "staff" else "student",
        display_name=name,
        class_name=row.class_name,
        language=row.language if row.language in ("kk", "ru", "en") else None,
        active=bool(row.active),
        consent=consent,
        meal_category=category,
        discount_percent=row.discount_percent if category == "discounted" else None,
        allergen_bans=bans,
        daily_limit_tiyn=limit,
        credited_tiyn=account.credited_tiyn,
        charged_tiyn=account.charged_tiyn,
    )


def answer_pull(
    conn: Connection,
    signed: SignedBody,
    since: int,
    contract: int = 1,
    wallet_public_key: str | None = None,
) -> bytes:
    """The roster delta a gateway's signed pull asks for, as sent, kept in the packet journal.

    Kept as sent, so that what a gateway was told stays provable: the answer, under the request's
    signature. A signature journalled already is a replay: ``Refused(replayed)``. ``contract`` is
    the roster contract the gateway reads (:data:`~shared.roster_contract.ROSTER_CONTRACT`): the
    fields of a later one stay off its wire.
    """
    delta = build_delta(conn, signed.gateway.school_id, since, wallet_public_key=wallet_public_key)
    served = min(contract, ROSTER_CONTRACT)
    if served > 1:
        delta = delta.model_copy(update={"contract": served})
    body = delta.model_dump_json(exclude=fields_after(served) or None).encode()
    kept = conn.execute(
        dialect_insert(conn, packets)
        .values(
            school_id=signed.gateway.school_id,
            direction="sync",
            gateway_id=signed.gateway.gateway_id,
            received_at=datetime.now(UTC),
            method=signed.method,
            path=signed.path,
            timestamp=signed.timestamp,
            signature=signed.signature,
            body_sha256=hashlib.sha256(body).hexdigest(),
            body=body,
            status_code=200,
            accepted=len(delta.people),
            duplicates=0,
            rejected=0,
        )
        .on_conflict_do_nothing(index_elements=["school_id", "gateway_id", "signature"])
        .returning(packets.c.id)
    ).first()
    if kept is None:
        raise Refused(Refusal.REPLAYED, "this signed request was already answered")
    return body
