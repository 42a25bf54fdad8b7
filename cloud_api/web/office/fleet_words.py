"""The fleet pages' words: what is wrong with a gateway and what to do, its parts, ages and sizes.

Written for a school's IT contact and a region's official, neither of them a network engineer: a
problem is said as what a person sees ("No contact"), with the first thing to check beside it.
"""

from __future__ import annotations

from datetime import datetime

from shared.i18n import Translator

__all__ = ["FleetWords"]


class FleetWords:
    """Names and phrases of the fleet pages in one language."""

    def __init__(self, _: Translator) -> None:
        self._ = _
        self.problem = {
            "silent": _("No contact"),
            "reader_offline": _("A reader is offline"),
            "part_failing": _("A part of the gateway is not working"),
            "backlog_old": _("Records wait to be sent for over an hour"),
            "disk_low": _("Disk almost full"),
            "clock_off": _("Clock is wrong"),
            "ok": _("Working"),
        }
        self.advice = {
            "silent": _("Check that the gateway computer is switched on and connected to the Internet."),
            "reader_offline": _("Check the cable and the power of the reader."),
            "part_failing": _("Restart the gateway; if that does not help, call support."),
            "backlog_old": _(
                "Check the Internet connection of the school: the taps are kept on the gateway and will be sent."
            ),
            "disk_low": _("Free space on the disk of the gateway, or call support."),
            "clock_off": _("Turn on automatic time setting (NTP) on the gateway computer."),
        }
        self.part_state = {
            "ok": _("working"),
            "failing": _("failing"),
            "offline": _("offline"),
            "stopped": _("stopped"),
            "off": _("not used"),
        }
        self.part = {
            "pipeline": _("Decisions at turnstiles and tills"),
            "forwarder": _("Sending to the cloud"),
            "roster_sync": _("Roster updates"),
            "heartbeat": _("Health reports"),
            "pages": _("Pages of the gateway"),
        }

    def ago(self, at: datetime | None, now: datetime) -> str:
        """How long ago ``at`` was, as people say it: ``3 minutes ago``; ``never`` for None."""
        _ = self._
        if at is None:
            return _("never")
        seconds = max(0.0, (now - at).total_seconds())
        if seconds < 60:
            return _("just now")
        if seconds < 3600:
            return _.plural("{n} minute ago", "{n} minutes ago", int(seconds // 60))
        if seconds < 48 * 3600:
            return _.plural("{n} hour ago", "{n} hours ago", int(seconds // 3600))
        return _.plural("{n} day ago", "{n} days ago", int(seconds // 86400))

    def duration(self, seconds: float | None) -> str:
        """A span of time, short: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``; a dash for None."""
        _ = self._
        if seconds is None:
            return "—"
        whole = int(seconds)
        if whole < 60:
            return _("{n} s", n=whole)
        if whole < 3600:
            return _("{n} min", n=whole // 60)
        if whole < 86400:
            return _("{h} h {m} min", h=whole // 3600, m=whole % 3600 // 60)
        return _("{d} d {h} h", d=whole // 86400, h=whole % 86400 // 3600)

    def size(self, n: int | None) -> str:
        """Bytes as gigabytes with one decimal (megabytes under one)."""
        _ = self._
        if n is None:
            return "—"
        if n < 1_000_000_000:
            return _("{value} MB", value=n // 1_000_000)
        return _("{value} GB", value=f"{n / 1e9:.1f}".replace(".", "," if _.language != "en" else "."))

    def part_name(self, name: str) -> str:
        """A part of the gateway in words; a network interface is ``Network eth0``."""
        if name.startswith("net:"):
            return self._("Network {name}", name=name[4:])
        return self.part.get(name, name)
