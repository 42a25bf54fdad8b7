"""What the gateway knows of its own health: the host, each part, the outbox and the clock.

Read at scrape time for ``/metrics`` and ``/api/status`` and every minute for the heartbeat
(:mod:`gateway.heartbeat`). The host figures come from psutil; the parts' states from the tasks
and counters of :class:`gateway.app.Gateway`; the outbox's oldest undelivered event from one
indexed query on the storage thread (:meth:`gateway.taps.outbox.Outbox.oldest_pending`).

The clock's offset from the cloud is measured from the heartbeat's answer, which carries the
cloud's clock when the heartbeat arrived: offset = (sent + answered) / 2 − cloud's time, that is
the gateway's clock minus the cloud's, with the half round trip taken off.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from shared.contract import PartState

__all__ = ["ClockOffset", "HealthFigures", "HostFigures", "host_figures", "software_version"]

PACKAGE = "mektep-gate"


def software_version() -> str:
    """The installed package's version ("unknown" when run from a tree that was never installed)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class HostFigures:
    """The host as psutil sees it; network counters summed over every interface but loopback."""

    cpu_ratio: float
    memory_used_bytes: int
    memory_total_bytes: int
    disk_free_bytes: int
    disk_total_bytes: int
    disk_free_ratio: float
    net_sent_bytes: int
    net_received_bytes: int
    links: dict[str, bool]


def _loopback(name: str, flags: str) -> bool:
    # psutil ≥ 5.9.6 names the flags; older ones do not, and "lo" is the loopback on Linux.
    return "loopback" in flags.split(",") or name == "lo" or name.startswith("lo:")


def host_figures(disk_path: Path) -> HostFigures:
    """Sample the host now. ``disk_path`` is a file or directory on the filesystem to watch.

    The CPU ratio is the use since the previous call (psutil keeps the mark): the first call of a
    process says 0.
    """
    memory = psutil.virtual_memory()
    path = disk_path if disk_path.exists() else disk_path.parent
    disk = psutil.disk_usage(str(path))
    stats = psutil.net_if_stats()
    links = {name: bool(s.isup) for name, s in stats.items() if not _loopback(name, getattr(s, "flags", ""))}
    counters = psutil.net_io_counters(pernic=True)
    sent = sum(c.bytes_sent for name, c in counters.items() if name in links)
    received = sum(c.bytes_recv for name, c in counters.items() if name in links)
    return HostFigures(
        cpu_ratio=min(1.0, psutil.cpu_percent(interval=None) / 100.0),
        memory_used_bytes=int(memory.total - memory.available),
        memory_total_bytes=int(memory.total),
        disk_free_bytes=int(disk.free),
        disk_total_bytes=int(disk.total),
        disk_free_ratio=disk.free / disk.total if disk.total else 0.0,
        net_sent_bytes=int(sent),
        net_received_bytes=int(received),
        links=links,
    )


@dataclass
class ClockOffset:
    """The gateway's clock minus the cloud's, in seconds, from the last answer that said the cloud's time."""

    offset_s: float | None = None
    round_trip_s: float | None = None
    measured_at: float | None = None  # time.time()

    def measure(self, sent_at: float, answered_at: float, cloud_time: datetime) -> float:
        """Take a measure from one exchange: ``sent_at``/``answered_at`` on the gateway's clock (Unix seconds)."""
        self.round_trip_s = max(0.0, answered_at - sent_at)
        # The cloud read its clock somewhere in the round trip: assume the middle.
        self.offset_s = (sent_at + answered_at) / 2 - cloud_time.timestamp()
        self.measured_at = answered_at
        return self.offset_s


@dataclass(frozen=True, slots=True)
class HealthFigures:
    """Everything a heartbeat and the health metrics say, at one moment."""

    version: str
    uptime_s: float
    host: HostFigures
    parts: dict[str, PartState]
    outbox_pending: int
    outbox_rejected: int
    oldest_pending_age_s: float | None
    clock_offset_s: float | None
    sampled_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (for ``/api/status``)."""
        out = asdict(self)
        out["parts"] = {name: state.value for name, state in self.parts.items()}
        out["pid"] = os.getpid()
        return out
