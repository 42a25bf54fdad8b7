"""Family notices that are no event (a low balance, a child not arrived, gone early) reach the phone once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from cloud_api.db.schema import push_subscriptions
from cloud_api.push.notices import queue_family_notice
from cloud_api.push.subscriptions import NoticeSettings, set_notice_settings
from cloud_api.push.worker import PushWorker
from simulators.push_service import PushServiceServer
from tests.cloud_api.school import CHILD, World
from tests.cloud_api.test_push import sender_for, service, settings, subscribe  # noqa: F401

pytestmark = pytest.mark.anyio
# The queue is the push tests' own, on the cluster already; a second kind of row adds nothing there.
ON_CITUS = ()

DEADLINE = datetime(2026, 12, 7, 3, 15, tzinfo=UTC)  # 08:15 in Almaty


def _queue(world: World, kind: str, key: str, facts: dict[str, object]) -> bool:
    with world.app.state.engine.begin() as conn:
        return queue_family_notice(conn, "s1", world.ids[CHILD], kind, key, facts, datetime.now(UTC))


async def test_a_notice_without_an_event_is_sent_once_in_the_guardians_language(
    world: World,
    service: PushServiceServer,  # noqa: F811
) -> None:
    child = str(world.ids[CHILD])
    phone = service.state.new_device()
    mother = subscribe(world, "+77012345678", phone, service)
    worker = PushWorker(world.app.state.engine, sender_for(world))

    # Money needs no consent to attendance tracking; an absence notice does.
    assert _queue(world, "low_balance", "2026-12-07", {"balance_tiyn": 45000, "threshold_tiyn": 50000})
    assert _queue(world, "not_arrived", "2026-12-07", {"deadline": DEADLINE.isoformat()})
    assert await worker.work_once() == 2
    bodies = [p["body"] for p in service.state.for_device(phone)]
    assert len(bodies) == 1 and "450" in bodies[0] and "500" in bodies[0], bodies

    world.client.post(f"/v1/me/children/{child}/consent", json={"given": True}, headers=mother)
    assert not _queue(world, "not_arrived", "2026-12-07", {"deadline": DEADLINE.isoformat()})  # the same day: once
    assert _queue(world, "not_arrived", "2026-12-08", {"deadline": DEADLINE.replace(day=8).isoformat()})
    assert await worker.work_once() == 1
    latest = service.state.for_device(phone)[-1]["body"]
    assert "08:15" in latest and "келген жоқ" in latest, latest

    # Switched off in the settings: nothing more of that kind.
    with world.app.state.engine.begin() as conn:
        account = conn.execute(select(push_subscriptions.c.account_id)).scalar_one()
        set_notice_settings(conn, account, NoticeSettings(language="en", absences=False))
    assert _queue(world, "left_early", "an-exit", {"at": DEADLINE.isoformat(), "end": "14:30"})
    assert _queue(world, "low_balance", "2026-12-09", {"balance_tiyn": 100, "threshold_tiyn": 50000})
    await worker.work_once()
    await worker.aclose()
    bodies = [p["body"] for p in service.state.for_device(phone)]
    assert len(bodies) == 3 and bodies[-1].startswith("Әлия's meal balance is 1\xa0₸"), bodies
