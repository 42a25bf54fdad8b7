"""The gateway service: drivers → pipeline → outbox → forwarder, plus the local page.

Everything runs on one asyncio loop. Each driver runs under a supervisor that restarts it if it
fails in a way it did not expect, so one misbehaving reader never stops the others or the
pipeline. ``Gateway.from_site`` builds it from a site file through the explicit driver registry
in :mod:`gateway.site.devices`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from prometheus_client import CollectorRegistry

from device_drivers.base import Feedback, LinkDriver
from gateway.access import store as access_store
from gateway.access.gate import LocalAccess, is_loopback, session_key
from gateway.disk import MIB, DiskGuard
from gateway.health import ClockOffset, HealthFigures, host_figures, software_version
from gateway.heartbeat import HeartbeatSender
from gateway.metrics import GatewayCollector
from gateway.pages.canteen import CanteenDesk
from gateway.pages.roll_call import RollCall
from gateway.pages.web import create_ui_app
from gateway.roster.photos import PhotoFetcher
from gateway.roster.photos import migrate as migrate_photos
from gateway.roster.store import RosterIndex, load_index, migrate
from gateway.roster.sync import RosterSync
from gateway.site.config import SiteConfig
from gateway.site.devices import build_devices
from gateway.storage import Storage
from gateway.taps.charges import charged_per_person
from gateway.taps.forwarder import Forwarder
from gateway.taps.outbox import Outbox
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, Place, Policy
from gateway.taps.rules import RosterPolicy, ServedMeal
from gateway.taps.wallet_codes import codes_in_force
from shared.contract import Category, PartState
from shared.localtime import LOCAL_TZ

__all__ = ["Gateway"]

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the gateway, not uvicorn, owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


class Gateway:
    """One school's gateway. ``await gateway.run()`` until cancelled."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        key: bytes,
        credential_key: bytes,
        drivers: Sequence[LinkDriver],
        points: Mapping[str, AccessPoint],
        releases: Mapping[str, str] | None = None,
        policy: Policy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ui_host: str | None = None,
        ui_port: int | None = None,
    ) -> None:
        self.site = site
        self.drivers = list(drivers)
        self._by_reader = {reader: d for d in self.drivers for reader in d.reader_ids}
        self._releases = dict(releases or {})
        self.storage = Storage(site.gateway.data_dir / "gateway.db")
        kept = site.storage
        self.disk = DiskGuard(
            site.gateway.data_dir,
            reserve_bytes=int(kept.reserve_mib * MIB),
            floor_bytes=int(kept.floor_mib * MIB),
            retention=timedelta(days=kept.retention_days),
            check_interval_s=kept.check_interval_s,
        )
        self.forwarder = Forwarder(
            storage=self.storage,
            gateway_id=site.gateway.id,
            key=key,
            base_url=str(site.cloud.url),
            batch_size=site.cloud.batch_size,
            timeout_s=site.cloud.timeout_s,
            retry_initial_s=site.cloud.retry_initial_s,
            retry_max_s=site.cloud.retry_max_s,
            transport=transport,
        )
        self.policy = policy or RosterPolicy(language=site.school.language)
        self.sync = RosterSync(
            storage=self.storage,
            school_id=site.school.id,
            gateway_id=site.gateway.id,
            key=key,
            base_url=str(site.cloud.url),
            on_index=self._roster_arrived,
            interval_s=site.cloud.sync_interval_s,
            timeout_s=site.cloud.timeout_s,
            transport=transport,
            photos=PhotoFetcher(
                storage=self.storage, gateway_id=site.gateway.id, key=key, disk_low=lambda: self.disk.stats.low
            ),
        )
        self.pipeline = Pipeline(
            school_id=site.school.id,
            gateway_id=site.gateway.id,
            credential_key=credential_key,
            storage=self.storage,
            policy=self.policy,
            points=points,
            feedback=self._route_feedback,
            on_recorded=self.forwarder.wake,
            on_full=lambda: self.storage.call(self.disk.release),
            language=site.school.language,
        )
        # The canteen screen judges by the roster's rules, so only a roster-judging gateway has one.
        self.canteen = (
            CanteenDesk(
                policy=self.policy,
                pipeline=self.pipeline,
                storage=self.storage,
                points=[p for p in points.values() if p.place is Place.CANTEEN],
            )
            if isinstance(self.policy, RosterPolicy)
            else None
        )
        self.clock = ClockOffset()
        self.heartbeat = HeartbeatSender(
            gateway_id=site.gateway.id,
            key=key,
            base_url=str(site.cloud.url),
            figures=self.health,
            clock=self.clock,
            interval_s=site.cloud.heartbeat_interval_s,
            timeout_s=site.cloud.timeout_s,
            transport=transport,
        )
        self.version = software_version()
        self._started_at = time.monotonic()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._health: HealthFigures | None = None
        self.registry = CollectorRegistry()
        self.registry.register(GatewayCollector(self))
        self._ui_host = site.gateway.ui_host if ui_host is None else ui_host
        # On the school's network, staff sign in (PIN or a paired device); on loopback nobody is asked.
        self.access = LocalAccess(
            required=not is_loopback(self._ui_host),
            storage=self.storage,
            key=session_key(key),
            people=lambda: self.policy.index.people if isinstance(self.policy, RosterPolicy) else {},
            staff_guard=self.canteen.guard if self.canteen is not None else None,
        )
        # Who is in the building, from the day's passages on disk and the roster's names.
        self.roll_call = RollCall(
            storage=self.storage,
            people=lambda: self.policy.index.people if isinstance(self.policy, RosterPolicy) else {},
            synced=lambda: isinstance(self.policy, RosterPolicy) and self.policy.index.synced,
            school_name=site.school.name,
        )
        self._ui_port = site.gateway.ui_port if ui_port is None else ui_port
        self._ui_server: _EmbeddedServer | None = None
        self.started = asyncio.Event()

    @classmethod
    def from_site(cls, site: SiteConfig, **kwargs: Any) -> Gateway:
        """Resolve the site's secrets and build its drivers from the registry."""
        devices = build_devices(site)
        return cls(
            site,
            key=site.gateway.key.resolve().encode(),
            credential_key=site.gateway.credential_key.resolve().encode(),
            drivers=devices.drivers,
            points=devices.points,
            releases=devices.releases,
            **kwargs,
        )

    @property
    def ui_url(self) -> str | None:
        """Where the local page listens, once it does."""
        if self._ui_server is None or not self._ui_server.started:
            return None
        port = self._ui_server.servers[0].sockets[0].getsockname()[1]
        host = f"[{self._ui_host}]" if ":" in self._ui_host else self._ui_host
        return f"http://{host}:{port}/"

    def _roster_arrived(self, index: RosterIndex) -> None:
        # One assignment: a tap is judged by the whole old roster or the whole new one.
        if isinstance(self.policy, RosterPolicy):
            self.policy.index = index

    async def _load_roster(self) -> None:
        """The roster held on disk and today's meals, so a restart judges as before it."""
        today = datetime.now(LOCAL_TZ).date()

        def load(
            outbox: Outbox,
        ) -> tuple[RosterIndex, list[tuple[str, dict[str, Any]]], dict[str, int], list[tuple[str, int]]]:
            migrate(outbox.db)
            migrate_photos(outbox.db)
            access_store.migrate(outbox.db)
            return (
                load_index(outbox.db),
                outbox.meals_on(today.isoformat()),
                charged_per_person(outbox.db.conn),
                codes_in_force(outbox.db.conn, time.time()),
            )

        index, meals, charges, codes = await self.storage.call(load)
        self.sync.stats.version = index.version
        self.sync.contract = index.contract
        self._roster_arrived(index)
        if isinstance(self.policy, RosterPolicy):
            self.policy.remember_charges(charges)
            self.policy.remember_codes(codes)  # a Wallet code used before the restart stays used
            self.policy.remember(
                ServedMeal(person, today, meal["period"], Category(meal["category"]), int(meal["price_tiyn"]))
                for person, meal in meals
            )

    def _route_feedback(self, reader_id: str, feedback: Feedback) -> None:
        # The reader shows the answer; a turnstile wired to a separate relay board opens from it.
        driver = self._by_reader.get(reader_id)
        if driver is not None:
            driver.feedback(reader_id, feedback)
        relay_id = self._releases.get(reader_id)
        if relay_id is not None and feedback.granted and feedback.unlock is not None:
            relay = self._by_reader.get(relay_id)
            if relay is not None:
                relay.feedback(relay_id, feedback)

    def parts(self) -> dict[str, PartState]:
        """The state of every part: each reader link, the pipeline, the forwarder, the roster sync, the pages."""

        def task_state(name: str, failing: bool = False) -> PartState:
            task = self._tasks.get(name)
            if task is None or task.done():
                return PartState.STOPPED
            return PartState.FAILING if failing else PartState.OK

        parts: dict[str, PartState] = {}
        for driver in self.drivers:
            state = task_state(f"driver:{driver.link_id}")
            parts[f"link:{driver.link_id}"] = (
                state if state is PartState.STOPPED or driver.online else PartState.OFFLINE
            )
        parts["pipeline"] = task_state("pipeline")
        parts["forwarder"] = task_state("forwarder", failing=bool(self.forwarder.stats.last_error))
        parts["roster_sync"] = task_state("roster-sync", failing=bool(self.sync.stats.last_error))
        parts["heartbeat"] = task_state("heartbeat", failing=bool(self.heartbeat.stats.last_error))
        if self._ui_port is None or self._ui_port < 0:
            parts["pages"] = PartState.OFF
        else:
            parts["pages"] = task_state("ui") if self.ui_url is not None else PartState.STOPPED
        return parts

    async def health(self) -> HealthFigures:
        """Sample the host, the parts and the outbox now (the outbox on its own thread)."""
        oldest = await self.storage.call(lambda outbox: outbox.oldest_pending())
        counts = self.storage.outbox.counts()
        host = await asyncio.to_thread(host_figures, self.storage.path)
        disk = self.disk.stats
        if disk.total_bytes:
            # Room the outbox still has: the filesystem's free space, the pages pruning freed inside
            # the database and the reserve kept for a full disk; pruning frees pages, not the disk.
            room = disk.available_bytes + disk.reserve_bytes
            host = replace(host, disk_free_bytes=room, disk_free_ratio=room / disk.total_bytes)
        now = datetime.now(UTC)
        self._health = HealthFigures(
            version=self.version,
            uptime_s=time.monotonic() - self._started_at,
            host=host,
            parts=self.parts(),
            outbox_pending=counts.pending,
            outbox_rejected=counts.rejected,
            oldest_pending_age_s=max(0.0, (now - oldest).total_seconds()) if oldest is not None else None,
            clock_offset_s=self.clock.offset_s,
        )
        return self._health

    @property
    def last_health(self) -> HealthFigures | None:
        """The figures of the last :meth:`health` sample (None before the first)."""
        return self._health

    def status(self) -> dict[str, Any]:
        """Counters of every part, for the page, the live view and the metrics."""
        return {
            "school": self.site.school.id,
            "gateway": self.site.gateway.id,
            "pipeline": asdict(self.pipeline.stats),
            "outbox": asdict(self.storage.outbox.counts()) if self.storage._outbox else {},
            "disk": asdict(self.disk.stats),
            "forwarder": asdict(self.forwarder.stats),
            "roster": asdict(self.sync.stats),
            "heartbeat": asdict(self.heartbeat.stats),
            "qr_refusals": dict(self.policy.qr_refusals) if isinstance(self.policy, RosterPolicy) else {},
            "health": self._health.as_dict() if self._health is not None else None,
            "drivers": [
                {
                    "link": d.link_id,
                    "online": bool(d.online),
                    "reads": d.stats.reads,
                    "reconnects": d.stats.reconnects,
                    "errors": dict(d.stats.errors),
                }
                for d in self.drivers
            ],
        }

    async def _latest(self, limit: int) -> list[dict[str, Any]]:
        return await self.storage.call(lambda outbox: outbox.latest(limit))

    async def run(self) -> None:
        """Open the outbox, start every part, and run until cancelled; then stop them all."""
        await self.storage.open()
        await self._load_roster()
        await self.storage.call(self.disk.check)  # the reserve is made before the first tap
        tasks: list[asyncio.Task[None]] = []

        def start(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
            task = asyncio.create_task(coro, name=name)
            tasks.append(task)
            self._tasks[name] = task
            return task

        try:
            start(self.disk.run(self.storage), "disk")
            start(self.sync.run(), "roster-sync")
            start(self.pipeline.run(), "pipeline")
            start(self.forwarder.run(), "forwarder")
            # Its own task: a heartbeat is not an event, and its failures touch nothing else.
            start(self.heartbeat.run(), "heartbeat")
            for driver in self.drivers:
                start(self._supervise(driver), f"driver:{driver.link_id}")
            if self._ui_port is not None and self._ui_port >= 0:
                app = create_ui_app(
                    school_name=self.site.school.name,
                    latest=self._latest,
                    status=self.status,
                    registry=self.registry,
                    canteen=self.canteen,
                    roll_call=self.roll_call,
                    access=self.access,
                    refresh=self.health,
                )
                config = uvicorn.Config(
                    app, host=self._ui_host, port=self._ui_port, log_level="warning", lifespan="off"
                )
                self._ui_server = _EmbeddedServer(config)
                start(self._ui_server.serve(), "ui")
                while not self._ui_server.started:
                    await asyncio.sleep(0.01)
            self.started.set()
            log.info("gateway %s running; page at %s", self.site.gateway.id, self.ui_url)
            await asyncio.gather(*tasks)
        finally:
            if self._ui_server is not None:
                self._ui_server.should_exit = True
            for task in tasks:
                if task.get_name() != "ui":
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.storage.close()

    async def _supervise(self, driver: LinkDriver) -> None:
        await _restart_forever(lambda: driver.run(self.pipeline), driver.link_id)


async def _restart_forever(start: Callable[[], Awaitable[None]], name: str, delay_s: float = 1.0) -> None:
    while True:
        try:
            await start()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("driver %s failed; restarting in %.0f s", name, delay_s)
            await asyncio.sleep(delay_s)
