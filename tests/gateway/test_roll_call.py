"""The roll call for an evacuation: after a morning of taps through the gateway's own pipeline, the
page lists exactly who is in the building, class by class, also after the gateway restarts; staff
sign in first; the day's passages are read through an index, never the months before."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import lxml.html
import sqlite_utils
from fastapi.testclient import TestClient

from device_drivers.base import CardRead
from gateway.access import store as access_store
from gateway.roster.store import apply
from gateway.taps.outbox import Outbox, migrations, open_database
from gateway.taps.presence import inside_on, query_plan
from shared.collation import class_key, name_key
from shared.contract import Category, CredentialKind, MealInfo
from shared.i18n import translator
from tests.gateway.evacuation import COOK, PIN, Gateway, morning, school_of
from tests.gateway.factories import draft
from tests.gateway.roster_factories import DAY, SCHOOL, School, at_local

BREAKFAST = MealInfo(period="breakfast", category=Category.PAID, dishes=["Блины"], price_tiyn=40000)
CLASSES = [f"{grade}{letter}" for grade in range(1, 12) for letter in "АБВГ"]


def read_at(card: str, reader: str, hour: int, minute: int) -> CardRead:
    return CardRead(reader, card, CredentialKind.EM4100, at_local(hour, minute))


def signed_in(gateway: Gateway, school: School, lang: str = "ru") -> TestClient:
    """A browser on the school's network that signed in with the cook's PIN, sent back to the roll call."""
    client = TestClient(gateway.app, follow_redirects=False)
    form = {"staff_id": str(school.people[COOK].id), "pin": PIN, "next": "/roll-call", "lang": lang}
    answer = client.post("/sign-in", data=form)
    assert answer.status_code == 303 and answer.headers["location"] == f"roll-call?lang={lang}"
    return client


def read_page(html: str) -> dict[str, object]:
    """What a reader of the page sees: the counts, and each group's heading and lines."""
    tree = lxml.html.fromstring(html)
    groups = []
    for section in tree.xpath("//section[contains(@class, 'group')]"):
        heading = section.xpath("string(.//h2)")
        lines = [
            (row.xpath("string(td[@class='name'])"), row.xpath("string(td[@class='at'])"))
            for row in section.xpath(".//tbody/tr")
        ]
        groups.append((heading, lines))
    counts = {
        row.xpath("string(th)"): int(row.xpath("string(td)")) for row in tree.xpath("//table[@id='counts']/tbody/tr")
    }
    return {
        "made": tree.xpath("string(//p[@class='made'])"),
        "total": int(tree.xpath("string(//*[@id='total'])")),
        "students": int(tree.xpath("string(//*[@id='students'])")),
        "staff": int(tree.xpath("string(//*[@id='staff'])")),
        "counted": int(tree.xpath("string(//table[@id='counts']/tfoot//td)")),
        "counts": counts,
        "groups": groups,
    }


def test_evacuating_a_school_of_3000_after_a_morning_of_taps(tmp_path: Path) -> None:
    school = school_of(3000, 150, CLASSES)
    day = morning(school)
    stories = Counter(day.stories.values())
    # Every kind of morning is there: the test covers what it says.
    for story in ("came", "came, tapped twice", "came, ate breakfast, went out and came back", "only tapped out"):
        assert stories[story] > 0, story
    assert sum(n for s, n in stories.items() if s.endswith("went out")) > 100
    assert stories["was in yesterday, never tapped out, did not come today"] > 100
    assert stories["only seen at the canteen"] > 20

    path = tmp_path / "data" / "gateway.db"
    gateway = Gateway.open(path, at_local(11, 45), school)
    gateway.play(day.reads)

    # What the list should say, from what each person did: class (None: staff) → [(name, HH:MM)].
    _ = translator("ru")
    wanted: dict[str, list[tuple[str, str]]] = {}
    for card, entered in day.inside.items():
        person = school.people[card]
        group = _("Staff") if person.role == "staff" else _("class {name}", name=person.class_name)
        wanted.setdefault(group, []).append((person.display_name, entered))
    assert 2000 < sum(len(lines) for lines in wanted.values()) < 3000

    def check(page: dict[str, object]) -> None:
        groups = dict(page["groups"])  # type: ignore[arg-type]
        headings = {heading.rsplit(":", 1)[0]: lines for heading, lines in groups.items()}
        assert {h: sorted(lines) for h, lines in headings.items()} == {g: sorted(v) for g, v in wanted.items()}
        for heading, lines in groups.items():
            assert heading.endswith(f": {len(lines)}")
            names = [name for name, _at in lines]
            assert names == sorted(names, key=name_key), f"{heading} is not by name"
        # Classes by grade and letter (2А before 10А), staff last; the counts agree with the lists.
        order = [h for h in headings if h != _("Staff")]
        assert order == sorted(order, key=lambda h: class_key(h.split()[0])) and list(headings)[-1] == _("Staff")
        assert page["counts"] == {h: len(lines) for h, lines in headings.items()}
        total = sum(len(v) for v in wanted.values())
        assert page["total"] == page["counted"] == total
        assert page["staff"] == len(wanted[_("Staff")]) and page["students"] == total - page["staff"]  # type: ignore[operator]
        assert "24.11.2026" in page["made"] and "11:45" in page["made"]  # type: ignore[operator]

    stranger = TestClient(gateway.app, follow_redirects=False)
    refused = stranger.get("/roll-call?lang=ru")
    assert refused.status_code == 303 and refused.headers["location"] == "sign-in?next=%2Froll-call&lang=ru"
    assert stranger.get("/api/roll-call").status_code == 401
    client = signed_in(gateway, school)
    started = time.perf_counter()
    answer = client.get("/roll-call?lang=ru")
    took = time.perf_counter() - started
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    check(read_page(answer.text))
    print(f"roll call of {len(day.inside)} inside, {len(day.reads)} taps: {took * 1000:.0f} ms")
    assert client.get("/api/roll-call").json()["total"] == len(day.inside)

    # The gateway restarts: the same list, from the disk.
    gateway.close()
    again = Gateway.open(path, at_local(11, 46))
    assert again.policy.index.synced  # the roster came back from the disk too
    check(read_page(signed_in(again, school).get("/roll-call?lang=ru").text.replace("11:46", "11:45")))
    # Two more: one comes in, one goes out; the list follows the disk, not a copy taken before.
    outside = next(card for card, story in day.stories.items() if story == "only tapped out")
    leaving = next(card for card in day.inside if card.startswith("S"))
    again.play([read_at(outside, "in-1", 11, 46), read_at(leaving, "out-1", 11, 46)])
    names = {p["name"] for g in signed_in(again, school).get("/api/roll-call").json()["groups"] for p in g["people"]}
    assert school.people[outside].display_name in names and school.people[leaving].display_name not in names
    # The next day begins empty: yesterday's entries without an exit do not count.
    again.now[0] = at_local(7, 0, DAY + timedelta(days=1))
    assert 'id="nobody"' in signed_in(again, school).get("/roll-call?lang=kk").text
    again.close()


def test_the_days_passages_are_read_through_the_index(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    plan = query_plan(outbox.db, DAY)
    assert "USING INDEX events_local_day (local_day=?)" in plan, plan
    assert "SCAN" not in plan, plan  # no walk of the whole table, however many months it holds


def test_a_gateway_upgraded_mid_morning_counts_the_entries_before_the_upgrade(tmp_path: Path) -> None:
    # Before this version an entry kept who passed but not the day: the upgrade gives it its day.
    path = tmp_path / "g.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m006_local_passages")
    came, left, ate = "p-came", "p-left", "p-ate"
    earlier = [
        draft(local_person=came, occurred_at="2026-11-24T07:50:00+05:00"),
        draft(local_person=left, occurred_at="2026-11-24T07:55:00+05:00"),
        draft(local_person=left, kind="exit", occurred_at="2026-11-24T09:10:00+05:00"),
        draft(
            local_person=ate,
            kind="meal",
            local_day="2026-11-24",
            occurred_at="2026-11-24T08:20:00+05:00",
            meal=BREAKFAST,
        ),
        draft(local_person=ate, occurred_at="2026-11-23T07:40:00+05:00"),  # yesterday's, never left
        draft(occurred_at="2026-11-24T07:45:00+05:00"),  # judged without a roster: nobody to name
    ]
    db.conn.executemany(
        "INSERT INTO events (seq, id, device_id, ref, body, local_person, local_day) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(n, d.id, d.device_id, None, d.body(n), d.local_person, d.local_day) for n, d in enumerate(earlier, 1)],
    )
    db.conn.commit()
    db.close()
    path.chmod(0o600)
    upgraded = Outbox(open_database(path))
    found = inside_on(upgraded.db, DAY)
    assert [(i.person_id, i.entered_at.strftime("%H:%M")) for i in found] == [(came, "07:50")]
    # The meal kept its day and is still found by the canteen after a restart.
    assert [person for person, _meal in upgraded.meals_on(DAY.isoformat())] == [ate]


def test_names_and_classes_sort_as_a_kazakh_or_russian_reader_expects() -> None:
    names = [
        "Яковлева Юлия", "Әбенов Ерлан", "Іскакова Дана", "Ыбыраев Олжас", "Абаев Асхат", "Ұлықбанов Ұлан",
        "Үсенова Үміт", "Уалиев Арман", "Қасымов Қанат", "Козлов Иван", "Кенжебаев Дархан", "абаев Асхат",
    ]  # fmt: skip
    assert sorted(names, key=name_key) == [
        "Абаев Асхат", "абаев Асхат", "Әбенов Ерлан", "Кенжебаев Дархан", "Козлов Иван", "Қасымов Қанат",
        "Уалиев Арман", "Ұлықбанов Ұлан", "Үсенова Үміт", "Ыбыраев Олжас", "Іскакова Дана", "Яковлева Юлия",
    ]  # fmt: skip
    assert sorted(["10А", "2Б", "11Г", "2А", "1Ә", "1А", "Подг."], key=class_key) == [
        "1А", "1Ә", "2А", "2Б", "10А", "11Г", "Подг.",
    ]  # fmt: skip


def test_the_list_reads_in_kazakh_and_english_and_a_gateway_without_a_roster_says_it_names_nobody(
    tmp_path: Path,
) -> None:
    school = school_of(3, 1, ["3Б"])
    gateway = Gateway.open(tmp_path / "g.db", at_local(9, 0), school)
    gateway.play([read_at("S0", "in-1", 8, 0), read_at("T0", "in-1", 8, 5), read_at("S1", "in-1", 8, 6)])
    client = signed_in(gateway, school, lang="kk")
    page = client.get("/roll-call?lang=kk").text
    assert "Түгендеу тізімі: ғимараттағы адамдар" in page and "тізімді алған жоқ" not in page
    assert read_page(page)["groups"] == [
        ("3Б сыныбы: 2", [(school.people["S0"].display_name, "08:00"), (school.people["S1"].display_name, "08:06")]),
        ("Қызметкерлер: 1", [(school.people["T0"].display_name, "08:05")]),
    ]
    assert 'href="roll-call?lang=kk"' in client.get("/?lang=kk").text  # the events page leads to it
    english = client.get("/roll-call?lang=en").text
    assert "Roll call: who is in the building" in english and "Made on 24.11.2026 at 09:00" in english
    # A full roster without S1, who is still inside: counted, under its own heading, with no name left.
    gone = school.people.pop("S1")
    school.cards = [c for c in school.cards if c.person_id != gone.id]
    gateway.policy.index = asyncio.run(gateway.storage.call(lambda o: apply(o.db, school.delta(2), SCHOOL)))
    assert read_page(client.get("/roll-call?lang=kk").text)["groups"] == [
        ("3Б сыныбы: 1", [(school.people["S0"].display_name, "08:00")]),
        ("Қызметкерлер: 1", [(school.people["T0"].display_name, "08:05")]),
        ("Тізімнен шыққандар: 1", [("—", "08:06")]),
    ]
    gateway.close()
    # A new gateway that never received a roster lets everyone in and can name nobody; nobody can
    # sign in by PIN either, a paired PC opens the page.
    new = Gateway.open(tmp_path / "new.db", at_local(9, 0))
    new.play([read_at("S0", "in-1", 8, 0)])
    code = asyncio.run(new.storage.call(lambda o: access_store.issue_code(o.db, new.now[0])))
    device = TestClient(new.app, follow_redirects=False)
    assert device.post("/pair", data={"code": code, "name": "Асхана ПК", "next": "/roll-call"}).status_code == 303
    page = device.get("/roll-call?lang=ru").text
    assert "Шлюз школы ещё не получил список" in page and 'id="nobody"' in page
    new.close()
