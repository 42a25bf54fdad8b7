"""The pipeline: a grant only after the commit; group commit; repeats answered the same."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from device_drivers.base import CardRead, Direction, Feedback, LinkState, StatusChange, utcnow
from gateway.roster.store import apply, migrate
from gateway.storage import Storage
from gateway.taps.charges import charged_per_person
from gateway.taps.drafts import CredentialHasher
from gateway.taps.outbox import open_database
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, NoRosterPolicy, Place, Verdict
from gateway.taps.rules import RosterPolicy
from shared.contract import Category, CredentialKind, Decision, EventKind
from tests.gateway.roster_factories import CARD_KEY, DAY, SCHOOL, School, at_local

POINTS = {
    "in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY),
    "out-1": AccessPoint("out-1", Place.TURNSTILE, Direction.EXIT),
    "canteen-1": AccessPoint("canteen-1", Place.CANTEEN),
}


async def make(tmp_path: Path, feedback: list[tuple[str, Feedback]]) -> tuple[Pipeline, Storage]:
    storage = Storage(tmp_path / "g.db")
    await storage.open()
    pipeline = Pipeline(
        school_id="s1",
        gateway_id="gw1",
        credential_key=b"k",
        storage=storage,
        policy=NoRosterPolicy(),
        points=POINTS,
        feedback=lambda reader, fb: feedback.append((reader, fb)),
    )
    return pipeline, storage


def read(reader: str, card: str = "0A1B2C3D4E", ref: str | None = None) -> CardRead:
    kind = CredentialKind.MQTT_CARD if reader.startswith("canteen") else CredentialKind.EM4100
    return CardRead(reader, card, kind, utcnow(), ref)


async def test_decisions_are_recorded_before_feedback(tmp_path: Path) -> None:
    feedback: list[tuple[str, Feedback]] = []
    pipeline, storage = await make(tmp_path, feedback)
    seen_on_disk: list[int] = []

    def check(reader: str, fb: Feedback) -> None:
        # at the moment of feedback the event is already committed
        seen_on_disk.append(storage.outbox.counts().recorded)
        feedback.append((reader, fb))

    pipeline._feedback = check
    recorded = await pipeline.process([read("in-1"), read("out-1"), read("canteen-1", ref="t1"), read("nowhere")])
    assert [r.event.kind for r in recorded] == [EventKind.ENTRY, EventKind.EXIT, EventKind.MEAL, EventKind.DENIED]
    assert [fb.granted for _, fb in feedback] == [True, True, True, False]
    assert feedback[0][1].unlock is Direction.ENTRY and feedback[1][1].unlock is Direction.EXIT
    assert feedback[3][1].reason == "unknown_reader"
    assert [fb.display for _, fb in feedback[:3]] == ["Қош келдіңіз", "Сау болыңыз", "Ас болсын"]
    assert seen_on_disk == [4, 4, 4, 4]
    event = recorded[0].event
    assert event.judged_without_roster and event.decision is Decision.GRANTED
    body = event.body(recorded[0].seq)
    assert event.credential_hash and "0A1B2C3D4E" not in body
    assert datetime.fromisoformat(event.occurred_at).utcoffset() == timedelta(hours=5)  # local, with offset
    await storage.close()


async def test_group_commit_and_status_events(tmp_path: Path) -> None:
    feedback: list[tuple[str, Feedback]] = []
    pipeline, storage = await make(tmp_path, feedback)
    task = asyncio.create_task(pipeline.run())
    for i in range(200):
        pipeline.card_read(read("in-1", card=f"{i:010X}"))
    pipeline.status_changed(StatusChange("in-1", LinkState.OFFLINE, "unplugged", utcnow()))
    while len(feedback) < 200:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    assert storage.outbox.counts().recorded == 201
    assert pipeline.stats.commits < 20  # reads that queued during a commit share the next one
    assert pipeline.stats.status_events == 1
    await storage.close()


async def test_redelivered_tap_gets_the_same_answer_and_one_record(tmp_path: Path) -> None:
    feedback: list[tuple[str, Feedback]] = []
    pipeline, storage = await make(tmp_path, feedback)
    await pipeline.process([read("canteen-1", ref="tap-7")])
    await pipeline.process([read("canteen-1", ref="tap-7")])
    assert storage.outbox.counts().recorded == 1
    assert [fb.ref for _, fb in feedback] == ["tap-7", "tap-7"]
    assert pipeline.stats.repeats == 1
    await storage.close()


async def test_storage_failure_denies_and_keeps_running(tmp_path: Path) -> None:
    feedback: list[tuple[str, Feedback]] = []
    pipeline, storage = await make(tmp_path, feedback)
    await storage.call(lambda outbox: outbox.db.execute("DROP TABLE events"))
    assert await pipeline.process([read("in-1")]) == []
    assert [(reader, fb.granted, fb.reason) for reader, fb in feedback] == [("in-1", False, "storage_error")]
    assert feedback[0][1].display == "Рұқсат жоқ: сақтау қатесі"  # the school's language: kk
    assert pipeline.stats.storage_errors == 1
    await storage.close()


class BrokenPolicy:
    def decide(self, read: CardRead, point: AccessPoint | None, credential_hash: str) -> object:
        raise KeyError("a bug in the rules")

    def release(self, verdict: Verdict) -> None:
        pass


async def test_policy_failure_denies_records_and_keeps_reading(tmp_path: Path) -> None:
    feedback: list[tuple[str, Feedback]] = []
    pipeline, storage = await make(tmp_path, feedback)
    pipeline._policy = BrokenPolicy()  # type: ignore[assignment]
    task = asyncio.create_task(pipeline.run())
    pipeline.card_read(read("in-1"))
    pipeline.card_read(read("in-1", card="0000000001"))
    while len(feedback) < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    assert [(fb.granted, fb.reason, fb.unlock) for _, fb in feedback] == [(False, "policy_error", None)] * 2
    assert storage.outbox.counts().recorded == 2  # the refusal is on record, for the admin to see
    assert pipeline.stats.policy_errors == 2
    await storage.close()


class RosterLikePolicy:
    """Knows one child: a Russian-speaking pupil of 3Б (what the roster policy will answer)."""

    def decide(self, read: CardRead, point: AccessPoint | None, credential_hash: str) -> Verdict:
        return Verdict(
            EventKind.MEAL,
            Decision.GRANTED,
            "free_meal",
            person_id="p-1",
            person_name="Алия Н.",
            class_name="3Б",
            language="ru",
        )

    def release(self, verdict: Verdict) -> None:
        pass


async def test_answer_names_the_child_in_their_language(tmp_path: Path) -> None:
    feedback: list[tuple[str, Feedback]] = []
    pipeline, storage = await make(tmp_path, feedback)  # the school's language is kk
    pipeline._policy = RosterLikePolicy()
    recorded = await pipeline.process([read("canteen-1", ref="t1")])
    (_, fb) = feedback[0]
    assert (fb.display, fb.person, fb.group) == ("Приятного аппетита", "Алия Н.", "3Б")
    assert "Алия" not in recorded[0].event.body(1)  # the name is for the screen, not the record
    await storage.close()


async def test_a_meal_is_served_and_charged_once_whatever_the_disk_or_the_network_does(tmp_path: Path) -> None:
    school = School()
    school.rules = school.rules.model_copy(update={"prepaid": True})
    school.add("ALIYA")
    school.add("WALLET", meal_category=Category.PAID, credited_tiyn=200000)
    db = open_database(tmp_path / "roster.db")
    migrate(db)
    policy = RosterPolicy(apply(db, school.delta(), SCHOOL))
    feedback: list[tuple[str, Feedback]] = []
    pipeline, storage = await make(tmp_path, feedback)
    pipeline._policy = policy

    def lunch(card: str, ref: str) -> CardRead:
        return CardRead("canteen-1", card, CredentialKind.MQTT_CARD, at_local(12, 30), ref)

    pipeline._hash = CredentialHasher(CARD_KEY)
    real_record = storage.outbox.record
    storage.outbox.record = lambda drafts, also=None: (_ for _ in ()).throw(OSError("disk full"))  # type: ignore[method-assign]
    await pipeline.process([lunch("ALIYA", "t1"), lunch("WALLET", "t2")])
    assert [fb.reason for _, fb in feedback] == ["storage_error"] * 2
    storage.outbox.record = real_record  # type: ignore[method-assign]
    # the disk is back: the same children are served, as if the failed taps never happened
    await pipeline.process([lunch("ALIYA", "t3"), lunch("WALLET", "t4")])
    assert [fb.granted for _, fb in feedback[2:]] == [True, True]
    # the terminal did not hear the answer and sends the paid tap again, twice: one meal, one charge
    await pipeline.process([lunch("WALLET", "t4")])
    await pipeline.process([lunch("WALLET", "t4")])
    assert [fb.granted for _, fb in feedback[4:]] == [True, True] and pipeline.stats.repeats == 2
    wallet = str(school.people["WALLET"].id)
    assert await storage.call(lambda outbox: charged_per_person(outbox.db.conn)) == {wallet: 70000}
    assert policy.balance_of(school.people["WALLET"]) == 130000 and policy.served_count(DAY, "lunch") == 2
    await storage.close()
