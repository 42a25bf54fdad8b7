"""The gateway's own health: a stalled outbox shows its oldest undelivered event; a cloud that does not
answer a heartbeat is only logged and counted; the clock's offset is measured from the cloud's answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from gateway.health import ClockOffset, host_figures
from gateway.heartbeat import HeartbeatSender
from gateway.site.config import parse_site
from shared.contract import (
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    EventResult,
    Heartbeat,
    PartState,
    ResultStatus,
    heartbeat_path,
    verify,
)
from tests.gateway.factories import draft

KEY = b"gateway-key"


def make_gateway(tmp_path: Path, transport: httpx.AsyncBaseTransport, **cloud: Any) -> Gateway:
    extra = "".join(f", {name}: {value}" for name, value in cloud.items())
    site = parse_site(
        f"""
school: {{id: s1, name: School}}
gateway: {{id: gw1, key: {{env: K}}, credential_key: {{env: C}}, data_dir: {tmp_path}}}
cloud: {{url: "http://cloud", retry_initial_s: 0.01, retry_max_s: 0.05{extra}}}
"""
    )
    return Gateway(site, key=KEY, credential_key=b"c", drivers=[], points={}, transport=transport, ui_port=-1)


def samples(gateway: Gateway) -> dict[str, float]:
    text = generate_latest(gateway.registry).decode()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples if not s.labels}


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no route to the cloud")


async def test_a_stalled_outbox_shows_its_oldest_undelivered_event(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, httpx.MockTransport(unreachable))
    await gateway.storage.open()
    try:
        three_hours_ago = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
        recent = datetime.now(UTC).isoformat()
        await gateway.storage.call(
            lambda outbox: outbox.record([draft(occurred_at=three_hours_ago), draft(occurred_at=recent)])
        )
        figures = await gateway.health()
        found = samples(gateway)
    finally:
        await gateway.storage.close()
    assert figures.outbox_pending == 2
    assert figures.oldest_pending_age_s is not None and 3 * 3600 - 60 < figures.oldest_pending_age_s < 3 * 3600 + 600
    assert found["mektep_gateway_outbox_oldest_pending_age_seconds"] == figures.oldest_pending_age_s
    assert 0 < found["mektep_gateway_disk_free_ratio"] <= 1
    assert found["mektep_gateway_uptime_seconds"] >= 0
    # not running: every part says so, and the local pages are not configured
    assert figures.parts["forwarder"] is PartState.STOPPED and figures.parts["pages"] is PartState.OFF


async def test_the_outbox_age_goes_back_to_nothing_when_delivered(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, httpx.MockTransport(unreachable))
    outbox = await gateway.storage.open()
    try:
        [recorded] = await gateway.storage.call(lambda o: o.record([draft()]))
        claimed = await gateway.storage.call(lambda o: o.claim(10))
        assert [c.seq for c in claimed] == [recorded.seq]
        answer = {recorded.seq: EventResult(id=claimed[0].id, status=ResultStatus.ACCEPTED)}
        await gateway.storage.call(lambda o: o.settle(answer))
        assert await gateway.storage.call(lambda o: o.oldest_pending()) is None
        assert (await gateway.health()).oldest_pending_age_s is None
    finally:
        await gateway.storage.close()
    assert outbox.counts().pending == 0


async def test_the_free_disk_counts_the_reserve_and_the_pages_pruning_freed(tmp_path: Path) -> None:
    """A full disk's alarm would never clear if pruning (which frees pages inside the database, not
    the filesystem) and the reserve kept for it did not count as room."""
    gateway = make_gateway(tmp_path, httpx.MockTransport(unreachable))
    await gateway.storage.open()
    try:
        await gateway.storage.call(gateway.disk.check)
        disk = gateway.disk.stats
        figures = await gateway.health()
    finally:
        await gateway.storage.close()
    assert disk.reserve_bytes > 0
    assert figures.host.disk_free_bytes == disk.available_bytes + disk.reserve_bytes
    assert figures.host.disk_free_ratio == (disk.available_bytes + disk.reserve_bytes) / disk.total_bytes


async def test_a_cloud_that_does_not_answer_heartbeats_only_counts_them(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, httpx.MockTransport(unreachable), heartbeat_interval_s=0.05)
    task = asyncio.create_task(gateway.run())
    try:
        await asyncio.wait_for(gateway.started.wait(), 10)
        [recorded] = await gateway.storage.call(lambda o: o.record([draft()]))
        gateway.forwarder.wake()
        for _ in range(200):
            if gateway.heartbeat.stats.failed >= 3 and gateway.forwarder.stats.failures:
                break
            await asyncio.sleep(0.02)
        assert gateway.heartbeat.stats.failed >= 3 and gateway.heartbeat.stats.sent == 0
        assert "unreachable" in gateway.heartbeat.stats.last_error
        parts = gateway.parts()
        assert parts["heartbeat"] is PartState.FAILING and parts["forwarder"] is PartState.FAILING
        assert parts["pipeline"] is PartState.OK
        # a heartbeat never enters the outbox: only the one event waits
        assert gateway.storage.outbox.counts().recorded == 1 and recorded.new
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_heartbeat_is_signed_and_measures_the_clock_from_the_answer(tmp_path: Path) -> None:
    got: list[httpx.Request] = []
    cloud_ahead = timedelta(seconds=42)

    def cloud(request: httpx.Request) -> httpx.Response:
        got.append(request)
        answer = {"received_at": (datetime.now(UTC) + cloud_ahead).isoformat(), "clock_offset_s": -42.0}
        return httpx.Response(200, json=answer)

    clock = ClockOffset()

    async def figures() -> Any:
        return await gateway.health()

    gateway = make_gateway(tmp_path, httpx.MockTransport(cloud))
    await gateway.storage.open()
    try:
        sender = HeartbeatSender(gateway_id="gw1", key=KEY, base_url="http://cloud", figures=figures, clock=clock)
        async with httpx.AsyncClient(base_url="http://cloud", transport=httpx.MockTransport(cloud)) as client:
            assert await sender.send(client)
    finally:
        await gateway.storage.close()
    [request] = got
    path = heartbeat_path("gw1")
    assert request.url.path == path
    assert verify(
        KEY, "POST", path, request.headers[HEADER_TIMESTAMP], request.content, request.headers[HEADER_SIGNATURE]
    )
    beat = Heartbeat.model_validate(json.loads(request.content))
    assert beat.gateway_id == "gw1" and beat.memory_total_bytes > 0
    assert clock.offset_s is not None and -43 < clock.offset_s < -41


async def test_a_reader_going_offline_is_told_at_once_not_with_the_next_minutes_heartbeat(tmp_path: Path) -> None:
    got: list[Heartbeat] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        got.append(Heartbeat.model_validate(json.loads(request.content)))
        return httpx.Response(200, json={"received_at": datetime.now(UTC).isoformat(), "clock_offset_s": 0.0})

    reader = {"state": PartState.OK}

    async def figures() -> Any:
        sampled = await gateway.health()
        return replace(sampled, parts={**sampled.parts, "link:turnstile-1": reader["state"]})

    async def beats(n: int) -> list[Heartbeat]:
        for _ in range(500):  # a few checks of 10 ms each are enough; never the interval's hour
            if len(got) >= n:
                break
            await asyncio.sleep(0.01)
        return got

    gateway = make_gateway(tmp_path, httpx.MockTransport(cloud))
    await gateway.storage.open()
    sender = HeartbeatSender(
        gateway_id="gw1",
        key=KEY,
        base_url="http://cloud",
        figures=figures,
        clock=ClockOffset(),
        interval_s=3600,
        check_s=0.01,
        transport=httpx.MockTransport(cloud),
    )
    task = asyncio.create_task(sender.run())
    try:
        assert len(await beats(1)) == 1  # the first, at start
        await asyncio.sleep(0.1)  # ten checks, nothing changed: nothing sent
        assert len(got) == 1
        reader["state"] = PartState.OFFLINE
        assert [b.parts["link:turnstile-1"] for b in await beats(2)] == [PartState.OK, PartState.OFFLINE]
        await asyncio.sleep(0.1)
        assert len(got) == 2  # told once, not at every check
        reader["state"] = PartState.OK
        assert (await beats(3))[-1].parts["link:turnstile-1"] is PartState.OK  # and back, at once too
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await gateway.storage.close()


def test_host_figures_leave_out_the_loopback(tmp_path: Path) -> None:
    host = host_figures(tmp_path / "gateway.db")
    assert "lo" not in host.links
    assert host.disk_total_bytes >= host.disk_free_bytes > 0
    assert host.memory_total_bytes >= host.memory_used_bytes > 0
