"""The school's rules at the edge, judged offline from the roster the gateway holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_drivers.base import CardRead, Direction
from gateway.roster.store import RosterIndex, apply, migrate
from gateway.taps.outbox import open_database
from gateway.taps.policy import AccessPoint, Place, Reason, Verdict
from gateway.taps.rules import RosterPolicy, ServedMeal
from shared.contract import Category, CredentialKind, Decision, EventKind, credential_hash
from shared.roster_contract import DishCategory
from tests.gateway.roster_factories import CARD_KEY, DAY, SCHOOL, School, at_local

IN = AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY)
OUT = AccessPoint("out-1", Place.TURNSTILE, Direction.EXIT)
CANTEEN, CANTEEN_2 = AccessPoint("canteen-1", Place.CANTEEN), AccessPoint("canteen-2", Place.CANTEEN)


def index_of(school: School, tmp_path: Path) -> RosterIndex:
    db = open_database(tmp_path / "gateway.db")
    migrate(db)
    return apply(db, school.delta(), SCHOOL)


def tap(policy: RosterPolicy, card: str, point: AccessPoint, hour: int = 12, minute: int = 30) -> Verdict:
    read = CardRead(point.device_id, card, CredentialKind.EM4100, at_local(hour, minute))
    return policy.decide(read, point, credential_hash(CARD_KEY, card))


@pytest.fixture
def school() -> School:
    s = School()
    s.add("ALIYA")
    s.add("LOST", blocked=True)
    s.add("LEFT", active=False)
    s.add("NOCONSENT", consent=False)
    s.add("TEACHER", role="staff", meal_category=None, class_name=None)
    s.add("GLUTEN", allergen_bans=["gluten"], meal_category=Category.PAID, daily_limit_tiyn=100000)
    s.add("HALF", meal_category=Category.DISCOUNTED, discount_percent=50)
    s.add("PAYS", meal_category=Category.PAID, daily_limit_tiyn=100000)
    return s


def test_before_any_roster_everyone_is_let_in_and_marked_so() -> None:
    verdict = tap(RosterPolicy(), "ANYONE", IN, 8)
    assert verdict.granted and verdict.judged_without_roster and verdict.reason == Reason.NO_ROSTER


def test_the_turnstile_judges_cards_and_people(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    aliya = tap(policy, "ALIYA", IN, 8)
    assert (aliya.kind, aliya.decision, aliya.unlock, aliya.person_id) == (
        EventKind.ENTRY,
        Decision.GRANTED,
        Direction.ENTRY,
        str(school.people["ALIYA"].id),
    )
    assert aliya.person_name == "ALIYA N." and aliya.class_name == "3Б" and aliya.language == "ru"
    assert tap(policy, "ALIYA", OUT, 15).kind is EventKind.EXIT
    assert tap(policy, "TEACHER", IN, 7).granted
    refused = [("STRANGER", Reason.UNKNOWN_CARD), ("LOST", Reason.CARD_BLOCKED), ("LEFT", Reason.NOT_ON_ROSTER)]
    for card, reason in refused:
        verdict = tap(policy, card, IN, 8)
        assert (verdict.decision, verdict.reason, verdict.unlock) == (Decision.DENIED, reason, None), card


def test_a_child_without_consent_passes_but_is_recorded_without_identity(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    verdict = tap(policy, "NOCONSENT", IN, 8)
    assert verdict.granted and verdict.anonymous and verdict.person_id is None
    assert verdict.reason == Reason.NO_CONSENT
    lunch = tap(policy, "NOCONSENT", CANTEEN)
    assert lunch.granted and lunch.person_id is None and lunch.meal is not None
    assert tap(policy, "NOCONSENT", CANTEEN_2).reason == Reason.ALREADY_SERVED  # still only one


def test_one_free_lunch_a_day_across_terminals(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    first = tap(policy, "ALIYA", CANTEEN, 12, 10)
    assert first.granted and first.meal is not None
    assert (first.meal.period, first.meal.category, first.meal.dishes, first.meal.price_tiyn) == (
        "lunch",
        Category.FREE,
        ["Плов"],
        0,
    )
    again = tap(policy, "ALIYA", CANTEEN_2, 13, 40)
    assert (again.decision, again.reason) == (Decision.DENIED, Reason.ALREADY_SERVED)


def test_a_restart_remembers_who_has_eaten(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    policy.remember([ServedMeal(str(school.people["ALIYA"].id), DAY, "lunch", Category.FREE, 0)])
    assert tap(policy, "ALIYA", CANTEEN).reason == Reason.ALREADY_SERVED


def test_outside_a_meal_period_nothing_is_served(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    assert tap(policy, "ALIYA", CANTEEN, 10).reason == Reason.NO_MEAL_PERIOD
    assert tap(policy, "TEACHER", CANTEEN).reason == Reason.NOT_ELIGIBLE


def test_a_free_meal_child_pays_outside_the_free_periods(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    breakfast = tap(policy, "ALIYA", CANTEEN, 8, 15)
    assert breakfast.granted and breakfast.meal is not None
    assert (breakfast.meal.category, breakfast.meal.price_tiyn) == (Category.PAID, 40000)


def test_a_discounted_meal_costs_the_family_its_share(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    meal = tap(policy, "HALF", CANTEEN).meal
    assert meal is not None and (meal.category, meal.price_tiyn) == (Category.DISCOUNTED, 35000)


def test_a_banned_allergen_in_the_set_meal_is_denied_and_named(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    verdict = tap(policy, "GLUTEN", CANTEEN, 8, 20)  # pancakes: gluten, milk, eggs
    assert (verdict.decision, verdict.reason) == (Decision.DENIED, Reason.ALLERGEN_CONFLICT)
    assert verdict.detail == ("gluten",)
    assert tap(policy, "GLUTEN", CANTEEN, 12, 20).granted  # plov holds none


def test_paid_meals_stop_at_the_daily_limit(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    assert tap(policy, "PAYS", CANTEEN, 8, 10).granted  # 400 tenge of a 1,000 tenge limit
    denied = tap(policy, "PAYS", CANTEEN, 12, 10)  # plov, 700 tenge: 1,100 > 1,000
    assert (denied.decision, denied.reason) == (Decision.DENIED, Reason.DAILY_LIMIT)


def test_the_next_day_is_a_new_day(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    policy.remember([ServedMeal(str(school.people["ALIYA"].id), DAY, "lunch", Category.FREE, 0)])
    tomorrow = DAY.replace(day=DAY.day + 1)
    index = policy.index
    policy.index = RosterIndex(  # tomorrow's menu: the same plov
        index.school_id,
        index.version,
        index.people,
        index.cards,
        index.rules,
        index.dishes,
        {(tomorrow, "lunch"): index.menu[(DAY, "lunch")].model_copy(update={"day": tomorrow})},
    )
    read = CardRead("canteen-1", "ALIYA", CredentialKind.EM4100, at_local(12, 30, tomorrow))
    assert policy.decide(read, CANTEEN, credential_hash(CARD_KEY, "ALIYA")).granted
    assert all(day == tomorrow for _, day, _ in policy._served)  # yesterday forgotten


def test_a_person_named_by_staff_is_judged_by_the_same_rules(school: School, tmp_path: Path) -> None:
    policy = RosterPolicy(index_of(school, tmp_path))
    aliya, gluten = str(school.people["ALIYA"].id), str(school.people["GLUTEN"].id)
    served = policy.decide_person(aliya, CANTEEN, at_local(12, 10))
    assert served.granted and served.meal is not None and served.local_person == aliya
    assert policy.decide_person(aliya, CANTEEN_2, at_local(12, 20)).reason == Reason.ALREADY_SERVED
    assert tap(policy, "ALIYA", CANTEEN).reason == Reason.ALREADY_SERVED  # a card after it, too
    pancakes = policy.decide_person(gluten, CANTEEN, at_local(8, 30))
    assert pancakes.reason == Reason.ALLERGEN_CONFLICT and pancakes.detail == ("gluten",)
    assert policy.decide_person("nobody", CANTEEN, at_local(12)).reason == Reason.NOT_ON_ROSTER
    assert policy.decide_person(aliya, None, at_local(12)).reason == Reason.UNKNOWN_READER
    assert RosterPolicy().decide_person(aliya, CANTEEN, at_local(12)).reason == Reason.NOT_ON_ROSTER
    assert policy.served_count(DAY, "lunch") == 1 and policy.served_count(DAY, "breakfast") == 0


def prepaid(school: School) -> School:
    """The same school, but paid meals draw on a prepaid balance."""
    school.rules = school.rules.model_copy(update={"prepaid": True})
    return school


def test_a_prepaid_balance_pays_for_meals_until_it_cannot(school: School, tmp_path: Path) -> None:
    prepaid(school).add("WALLET", meal_category=Category.PAID, credited_tiyn=100000)
    policy = RosterPolicy(index_of(school, tmp_path))
    assert tap(policy, "WALLET", CANTEEN, 8, 10).granted  # pancakes, 400 of 1,000 tenge
    short = tap(policy, "WALLET", CANTEEN, 12, 10)  # plov, 700 tenge: 600 left
    assert (short.decision, short.reason) == (Decision.DENIED, Reason.INSUFFICIENT_BALANCE)
    assert tap(policy, "ALIYA", CANTEEN).granted  # a free lunch costs the balance nothing
    person = school.people["WALLET"]
    assert policy.balance_of(person) == 60000


def test_the_balance_counts_the_larger_of_the_clouds_and_the_gateways_charges(school: School, tmp_path: Path) -> None:
    # The cloud has heard of 300 tenge of meals; this gateway served 500 tenge, not all delivered yet.
    prepaid(school).add("WALLET", meal_category=Category.PAID, credited_tiyn=110000, charged_tiyn=30000)
    policy = RosterPolicy(index_of(school, tmp_path))
    wallet = school.people["WALLET"]
    policy.remember_charges({str(wallet.id): 50000})  # read back from the outbox after a restart
    policy.remember([ServedMeal(str(wallet.id), DAY, "breakfast", Category.PAID, 40000)])  # today's, among them
    assert policy.balance_of(wallet) == 60000  # today's breakfast is in the 500 already: not counted twice
    assert tap(policy, "WALLET", CANTEEN, 12, 10).reason == Reason.INSUFFICIENT_BALANCE  # plov 700 > 600
    # a new gateway (its disk replaced) knows nothing of its own: the cloud's count holds
    fresh = RosterPolicy(index_of(school, tmp_path / "new"))
    assert fresh.balance_of(wallet) == 80000 and tap(fresh, "WALLET", CANTEEN, 12, 10).granted


def test_a_discounted_share_counts_against_the_daily_limit(school: School, tmp_path: Path) -> None:
    school.add("THRIFTY", meal_category=Category.DISCOUNTED, discount_percent=50, daily_limit_tiyn=30000)
    policy = RosterPolicy(index_of(school, tmp_path))
    assert tap(policy, "THRIFTY", CANTEEN).reason == Reason.DAILY_LIMIT  # its share, 350 tenge > 300


def test_a_meal_handed_back_can_be_served_again(school: School, tmp_path: Path) -> None:
    prepaid(school).add("WALLET", meal_category=Category.PAID, credited_tiyn=100000)
    policy = RosterPolicy(index_of(school, tmp_path))
    lunch = tap(policy, "ALIYA", CANTEEN)
    paid = tap(policy, "WALLET", CANTEEN)
    policy.release(lunch)  # their events could not be written: nobody was served
    policy.release(paid)
    assert policy.served_count(DAY, "lunch") == 0 and policy.balance_of(school.people["WALLET"]) == 100000
    assert tap(policy, "ALIYA", CANTEEN).granted and tap(policy, "WALLET", CANTEEN).granted
    assert policy.served_count(DAY, "lunch") == 2
    assert policy.balance_of(school.people["WALLET"]) == 30000  # charged once, not twice
    policy.release(tap(policy, "ALIYA", CANTEEN))  # a denial hands back nothing
    assert tap(policy, "ALIYA", CANTEEN).reason == Reason.ALREADY_SERVED


def test_a_forbidden_kind_of_dish_in_the_set_meal_is_denied_and_named(school: School, tmp_path: Path) -> None:
    school.pancakes = school.pancakes.model_copy(update={"category": DishCategory.PASTRY})
    school.add("NOPASTRY", category_bans=[DishCategory.PASTRY])
    policy = RosterPolicy(index_of(school, tmp_path))
    verdict = tap(policy, "NOPASTRY", CANTEEN, 8, 20)  # breakfast: pancakes, a pastry
    assert (verdict.decision, verdict.reason) == (Decision.DENIED, Reason.CATEGORY_BANNED)
    assert verdict.detail == ("pastry",)
    assert tap(policy, "NOPASTRY", CANTEEN, 12, 20).granted  # lunch: plov, a main dish
