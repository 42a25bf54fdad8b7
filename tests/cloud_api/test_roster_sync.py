"""What a gateway pulls: its school's roster, full or what changed, signed, with the canteen's data."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from datetime import time as clock
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import credentials, packets, people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.audit import audit_entries
from cloud_api.services.cards import assign_card, block_card
from cloud_api.services.consent import set_consent
from cloud_api.services.menus import bans_of, dish_history, set_allergen_bans, set_day_menu, set_meal_rules, upsert_dish
from cloud_api.services.roster_import import import_roster
from cloud_api.services.roster_sync import build_delta, roster_names
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, CredentialKind, sign
from shared.localtime import local_date
from shared.roster_contract import ROSTER_PATH, Dish, DishCategory, MealPeriod, MealRules, RosterDelta, SetMeal
from tests.cloud_api.helpers import KEY, count
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEACHER, TEEN, iin

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 08:00 in Almaty
PLOV = Dish(id=uuid.uuid4(), names={"ru": "Плов", "kk": "Палау"}, price_tiyn=70000, allergens=[])


_pulls = itertools.count()


def pull(client: TestClient, since: int, *, key: str = KEY, gateway: str = "gw1") -> RosterDelta | int:
    path = f"{ROSTER_PATH}?since={since}"
    # A second apart, as a gateway's pulls are: the same request signed in the same second is a replay.
    ts = str(int(time.time()) + next(_pulls) % 50)
    signature = sign(key.encode(), "GET", path, ts, b"")
    headers = {HEADER_GATEWAY: gateway, HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: signature}
    response = client.get(path, headers=headers)
    return RosterDelta.model_validate_json(response.content) if response.status_code == 200 else response.status_code


def ids(engine: Engine) -> dict[str, UUID]:
    with engine.connect() as conn:
        return {row.iin: row.id for row in conn.execute(select(people.c.iin, people.c.id))}


def school_with_a_canteen(engine: Engine) -> dict[str, UUID]:
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
    who = ids(engine)
    with engine.begin() as conn:
        assign_card(conn, "s1", who[CHILD], CredentialKind.EM4100, "a" * 64, actor="admin")
        rules = MealRules(periods=[MealPeriod(name="lunch", starts=clock(12), ends=clock(14))])
        set_meal_rules(conn, "s1", rules, actor="admin")
        upsert_dish(conn, "s1", PLOV, actor="cook")
        # Today's menu, by the clock the pull is answered at: a fixed date falls out of the delta once past.
        today = local_date(datetime.now(UTC))
        set_day_menu(conn, "s1", SetMeal(day=today, period="lunch", dish_ids=[PLOV.id], price_tiyn=70000), actor="cook")
    return who


def test_a_new_gateway_gets_everything_it_needs_and_nothing_more(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    who = school_with_a_canteen(engine)
    delta = pull(client, 0)
    assert isinstance(delta, RosterDelta) and delta.full and delta.version > 0
    by_id = {p.id: p for p in delta.people}
    assert set(by_id) == {who[CHILD], who[TEEN], who[TEACHER]}  # guardians never tap at school
    child = by_id[who[CHILD]]
    assert (child.display_name, child.class_name, child.meal_category) == ("Әлия Н.", "3Б", "free")
    assert not child.consent  # no guardian has given it yet
    assert by_id[who[TEEN]].discount_percent == 50 and by_id[who[TEACHER]].meal_category is None
    assert "iin" not in delta.model_dump_json().lower() and CHILD not in delta.model_dump_json()
    assert [(c.credential_hash, c.person_id, c.blocked) for c in delta.credentials] == [("a" * 64, who[CHILD], False)]
    assert delta.meal_rules is not None and [d.id for d in delta.dishes] == [PLOV.id]
    assert [(m.period, m.price_tiyn) for m in delta.menu] == [("lunch", 70000)]
    assert count(client.app, packets) == 1  # the answer is journalled  # type: ignore[arg-type]


def test_then_only_what_changed(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    who = school_with_a_canteen(engine)
    first = pull(client, 0)
    assert isinstance(first, RosterDelta)
    assert pull(client, first.version) == RosterDelta(
        school_id="s1", since=first.version, version=first.version, full=False
    )
    with engine.begin() as conn:
        set_consent(conn, "s1", who[CHILD], who[MOTHER], True, actor="mother")
        set_allergen_bans(conn, "s1", who[CHILD], who[MOTHER], ["milk", "gluten"], actor="mother")
        card = conn.execute(select(credentials.c.id)).scalar_one()
        block_card(conn, "s1", card, actor="admin")
        upsert_dish(conn, "s1", PLOV.model_copy(update={"price_tiyn": 75000}), actor="cook")
    delta = pull(client, first.version)
    assert isinstance(delta, RosterDelta) and not delta.full and delta.version == first.version + 4
    assert [(p.id, p.consent, p.allergen_bans) for p in delta.people] == [(who[CHILD], True, ["gluten", "milk"])]
    assert [c.blocked for c in delta.credentials] == [True]
    assert [d.price_tiyn for d in delta.dishes] == [75000] and delta.meal_rules is None and delta.menu == []
    with engine.connect() as conn:
        assert [h["price_tiyn"] for h in dish_history(conn, "s1", PLOV.id)] == [70000, 75000]  # history kept
        assert [e["entity"] for e in audit_entries(conn, "s1") if e["entity"] == "allergen_bans"] == ["allergen_bans"]


def test_only_the_gateways_own_school_and_only_signed(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    school_with_a_canteen(engine)
    other = pull(client, 0, key="gateway-secret-key-2", gateway="gw2")  # gw2 belongs to school s2
    assert isinstance(other, RosterDelta) and other.school_id == "s2" and other.people == []
    assert pull(client, 0, key="not-the-key-of-gw1") == 401
    response = client.get(f"{ROSTER_PATH}?since=0")
    assert response.status_code == 401


def test_a_signed_pull_cannot_be_bent_to_another_version(client: TestClient) -> None:
    path = f"{ROSTER_PATH}?since=0"
    ts = str(int(time.time()))
    headers = {HEADER_GATEWAY: "gw1", HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: sign(KEY.encode(), "GET", path, ts, b"")}
    assert client.get(f"{ROSTER_PATH}?since=7", headers=headers).status_code == 401
    assert client.get(path, headers=headers).status_code == 200
    assert client.get(path, headers=headers).status_code == 401  # the same signed request again: a replay


def test_build_delta_at_a_version_never_issued_is_full(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    school_with_a_canteen(engine)
    with engine.connect() as conn:
        delta = build_delta(conn, "s1", 10_000, NOW)
    assert delta.full and len(delta.people) == 3


def test_only_a_guardian_sets_a_childs_allergen_bans(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    who = school_with_a_canteen(engine)
    with engine.begin() as conn, pytest.raises(DomainError, match="unknown_person"):
        set_allergen_bans(conn, "s1", who[CHILD], who[TEACHER], ["milk"], actor="teacher")
    with engine.connect() as conn:
        assert bans_of(conn, "s1") == {}


def test_staff_with_the_same_initials_are_told_apart_and_a_namesake_sends_both_again(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    who = school_with_a_canteen(engine)
    first = pull(client, 0)
    assert isinstance(first, RosterDelta)
    assert {p.id: p.display_name for p in first.people}[who[TEACHER]] == "Марат С."
    namesake, other_class = iin("81010150051"), iin("14050550071")
    new_rows = [
        ["staff", namesake, "Сәкенов", "Марат", "", "ru", "", "", "", "", ""],  # the screen would show "Марат С." twice
        ["student", other_class, "Нұрбекова", "Әлия", "4А", "kk", "", "", "", "", ""],  # another class: told apart
    ]
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *new_rows]), actor="admin")
    who = ids(engine)
    delta = pull(client, first.version)
    assert isinstance(delta, RosterDelta) and not delta.full
    # The teacher did not change, but his name did: he comes again with it.
    assert {p.id: p.display_name for p in delta.people} == {
        who[TEACHER]: "Марат Се.",
        who[namesake]: "Марат Сә.",
        who[other_class]: "Әлия Н.",
    }
    with engine.connect() as conn:
        full = build_delta(conn, "s1", 0)
        assert {p.id: p.display_name for p in full.people} == {
            who[CHILD]: "Әлия Н.",
            who[TEEN]: "Пётр И.",
            who[TEACHER]: "Марат Се.",
            who[namesake]: "Марат Сә.",
            who[other_class]: "Әлия Н.",
        }
        assert roster_names(conn, "s1") == {p.id: p.display_name for p in full.people}


class _EarlierDish(BaseModel):
    """A dish as a gateway of the release before dish kinds reads it: an unknown field is refused."""

    model_config = ConfigDict(extra="forbid")
    id: UUID
    names: dict[str, str]
    price_tiyn: int
    allergens: list[str]
    photo_url: str | None


def test_a_gateway_of_the_release_before_dish_kinds_still_reads_the_menu(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    school_with_a_canteen(engine)
    with engine.begin() as conn:  # a drink, not the default kind
        upsert_dish(conn, "s1", PLOV.model_copy(update={"category": DishCategory.DRINK}), actor="cook")
    path = f"{ROSTER_PATH}?since=0"
    ts = str(int(time.time()) + next(_pulls) % 50)
    headers = {HEADER_GATEWAY: "gw1", HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: sign(KEY.encode(), "GET", path, ts, b"")}
    body = json.loads(client.get(path, headers=headers).content)
    assert [_EarlierDish.model_validate(d).id for d in body["dishes"]] == [PLOV.id]
