"""The API process's own push workers: a notice is on the phone moments after ingest, without a poll."""

from __future__ import annotations

import pytest

from cloud_api.settings import CloudSettings
from simulators.push_service import PushServiceServer
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import CHILD, World
from tests.cloud_api.test_push import earlier_today, event, ingest, service, subscribe  # noqa: F401


@pytest.fixture
def settings(database_url: str, service: PushServiceServer) -> CloudSettings:  # noqa: F811
    # A long poll: only ingest's wake-up can make the notice arrive within the test's wait.
    return CloudSettings(
        database_url=database_url,
        admin_token=ADMIN,
        push_workers=2,
        push_poll_s=60,
        push_service_origins=[service.url],
    )


def test_ingest_wakes_the_workers_and_the_notice_arrives(world: World, service: PushServiceServer) -> None:  # noqa: F811
    child = str(world.ids[CHILD])
    phone = service.state.new_device()
    mother = subscribe(world, "+77012345678", phone, service)
    world.client.post(f"/v1/me/children/{child}/consent", json={"given": True}, headers=mother)
    ingest(world, event(1, person_id=child, reason="on_roster", at=earlier_today(0)))
    assert service.state.wait_for(lambda got: len(got) == 1, timeout_s=20)
    assert service.state.for_device(phone)[0]["body"].startswith("Әлия мектепке келді")
