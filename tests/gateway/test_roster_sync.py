"""The roster on the gateway: deltas applied whole or not at all, pulled signed, used at once."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlite_utils

from gateway.roster.store import RosterIndex, RosterRefused, apply, load_index, migrate, parse_delta
from gateway.roster.sync import RosterSync
from gateway.storage import Storage
from gateway.taps.outbox import open_database
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify
from shared.roster_contract import RosterDelta
from tests.gateway.roster_factories import SCHOOL, School

KEY = b"gateway-key-0123456789abcdef"


def db_at(tmp_path: Path) -> sqlite_utils.Database:
    db = open_database(tmp_path / "gateway.db")
    migrate(db)
    return db


def test_a_full_roster_then_a_delta(tmp_path: Path) -> None:
    school = School()
    aliya = school.add("ALIYA")
    db = db_at(tmp_path)
    index = apply(db, school.delta(version=3), SCHOOL)
    assert (index.version, len(index.people), len(index.cards), len(index.menu)) == (3, 1, 1, 2)
    changed = aliya.model_copy(update={"consent": False})
    index = apply(db, RosterDelta(school_id=SCHOOL, since=3, version=4, full=False, people=[changed]), SCHOOL)
    assert index.version == 4 and not index.people[str(aliya.id)].consent and len(index.menu) == 2
    assert load_index(db) == index  # what a restart reads back is what is in memory


def test_a_delta_that_does_not_follow_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    school = School()
    school.add("ALIYA")
    db = db_at(tmp_path)
    before = apply(db, school.delta(version=3), SCHOOL)
    with pytest.raises(RosterRefused, match="since version 5"):
        apply(db, RosterDelta(school_id=SCHOOL, since=5, version=6, full=False), SCHOOL)
    with pytest.raises(RosterRefused, match="school 'other'"):
        apply(db, RosterDelta(school_id="other", since=0, version=9, full=True), SCHOOL)
    assert load_index(db) == before


def test_a_delta_that_fails_half_way_leaves_the_old_roster(tmp_path: Path) -> None:
    school = School()
    school.add("ALIYA")
    db = db_at(tmp_path)
    before = apply(db, school.delta(version=3), SCHOOL)
    db.execute("CREATE TRIGGER no_menus BEFORE INSERT ON roster_menu BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
    school.add("BOLAT")
    with pytest.raises(Exception, match="disk trouble"):
        apply(db, school.delta(version=4), SCHOOL)  # full: deletes everything first, then fails
    assert load_index(db) == before


def test_a_malformed_delta_is_named() -> None:
    with pytest.raises(RosterRefused, match=r"people\.0\.id: Input should be a valid UUID"):
        parse_delta(b'{"school_id": "s1", "since": 0, "version": 1, "full": true, "people": [{"id": "x"}]}')


async def test_the_sync_client_signs_its_pull_and_hands_over_the_new_roster(tmp_path: Path) -> None:
    school = School()
    school.add("ALIYA")
    asked: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        headers = request.headers
        if headers.get(HEADER_GATEWAY) != "gw1" or not verify(
            KEY, "GET", path, headers[HEADER_TIMESTAMP], b"", headers[HEADER_SIGNATURE]
        ):
            return httpx.Response(401)
        asked.append(path)
        return httpx.Response(200, content=school.delta(version=2).model_dump_json())

    storage = Storage(tmp_path / "gateway.db")
    await storage.open()
    await storage.call(lambda o: migrate(o.db))
    seen: list[RosterIndex] = []
    sync = RosterSync(
        storage=storage,
        school_id=SCHOOL,
        gateway_id="gw1",
        key=KEY,
        base_url="http://cloud",
        on_index=seen.append,
        transport=httpx.MockTransport(cloud),
    )
    async with httpx.AsyncClient(base_url="http://cloud", transport=httpx.MockTransport(cloud)) as client:
        assert await sync.pull(client)
        assert asked == ["/v1/sync/roster?since=0&contract=3"]
        assert seen[-1].version == 2 and len(seen[-1].people) == 1
        wrong = RosterSync(
            storage=storage,
            school_id=SCHOOL,
            gateway_id="gw1",
            key=b"another-key-0123456789",
            base_url="http://cloud",
            on_index=seen.append,
        )
        assert not await wrong.pull(client) and "401" in wrong.stats.last_error
    assert (await storage.call(lambda o: load_index(o.db))).version == 2  # on disk, for a restart
    await storage.close()


async def test_a_gateway_asks_for_everything_again_when_its_roster_lacks_what_the_cloud_now_sends(
    tmp_path: Path,
) -> None:
    school = School()
    school.add("ALIYA")
    answers: list[RosterDelta] = []
    asked: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.raw_path.decode())
        return httpx.Response(200, content=answers.pop(0).model_dump_json(exclude_defaults=True))

    storage = Storage(tmp_path / "gateway.db")
    await storage.open()

    def held_by_the_release_before(outbox: object) -> RosterIndex:
        db = outbox.db  # type: ignore[attr-defined]
        migrate(db)
        apply(db, school.delta(version=4), SCHOOL)
        db.execute("DELETE FROM roster_meta WHERE key = 'contract'")  # it did not record one
        return load_index(db)

    held = await storage.call(held_by_the_release_before)
    assert held.contract is None and held.version == 4
    sync = RosterSync(
        storage=storage,
        school_id=SCHOOL,
        gateway_id="gw1",
        key=KEY,
        base_url="http://cloud",
        on_index=lambda _: None,
        version=held.version,
    )
    sync.contract = held.contract
    old_cloud = school.delta(version=4)  # an older cloud: contract 1, whatever was asked
    newer = RosterDelta(school_id=SCHOOL, since=4, version=5, full=False, contract=3)  # then it is upgraded
    renewed = school.delta(version=5).model_copy(update={"contract": 3})
    answers += [old_cloud, RosterDelta(school_id=SCHOOL, since=4, version=4, full=False), newer, renewed]
    async with httpx.AsyncClient(base_url="http://cloud", transport=httpx.MockTransport(cloud)) as client:
        for _ in range(4):
            await sync.pull(client)
    assert [path.split("?")[1] for path in asked] == [
        "since=0&contract=3",  # a roster of unknown contract: all of it again
        "since=4&contract=3",  # an older cloud answered contract 1: deltas from then on, no loop
        "since=4&contract=3",  # a delta of contract 3 over a snapshot of 1...
        "since=0&contract=3",  # ...so the dishes, bans and vouchers that did not change come again in full
    ]
    assert sync.contract == 3 and (await storage.call(lambda o: load_index(o.db))).contract == 3
    await storage.close()
