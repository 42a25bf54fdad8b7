"""A full disk, on a real small filesystem: taps commit from the reserve, pruning frees room, no grant is lost.

The test mounts a tmpfs of a few MiB (we run as root in CI). Where mounting is not permitted it
is skipped, saying why, except under ``CI=true`` where it must run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_drivers.base import CardRead, Direction, Feedback, utcnow
from gateway.disk import MIB, DiskGuard
from gateway.storage import Storage
from gateway.taps.outbox import EventState, open_database
from gateway.taps.pipeline import Pipeline
from gateway.taps.policy import AccessPoint, NoRosterPolicy, Place
from shared.contract import CredentialKind, EventResult, ResultStatus

POINTS = {"in-1": AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY)}


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 8 MiB mounted for this test (and unmounted after it)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})"
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail(f"{reason}, though CI runs as root and should be able to")
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no byte left; the file."""
    filler = directory / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512):  # the last few KiB in smaller steps
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def tap(i: int) -> CardRead:
    return CardRead("in-1", f"{i:010X}", CredentialKind.EM4100, utcnow())


async def test_taps_commit_from_the_reserve_and_no_grant_is_lost_when_the_disk_fills(small_fs: Path) -> None:
    storage = Storage(small_fs / "gateway.db")
    await storage.open()
    disk = DiskGuard(small_fs, reserve_bytes=2 * MIB, floor_bytes=1 * MIB, retention=timedelta(days=30))
    await storage.call(disk.check)
    assert disk.stats.reserve_bytes >= 2 * MIB and not disk.stats.reserve_released
    answers: list[Feedback] = []
    pipeline = Pipeline(
        school_id="s1",
        gateway_id="gw1",
        credential_key=b"k",
        storage=storage,
        policy=NoRosterPolicy(),
        points=POINTS,
        feedback=lambda _reader, fb: answers.append(fb),
        on_full=lambda: storage.call(disk.release),
    )
    granted: dict[str, int] = {}  # event id → seq of every tap the turnstile let through

    async def taps(first: int, n: int, group: int = 10) -> int:
        """Tap ``n`` cards in groups; how many were granted."""
        before = len(granted)
        for start in range(first, first + n, group):
            for rec in await pipeline.process([tap(i) for i in range(start, start + group)]):
                if rec.event.granted:
                    granted[rec.event.id] = rec.seq
        return len(granted) - before

    # A morning of taps; the cloud takes the first 400 of them.
    assert await taps(0, 600) == 600
    delivered = {c.seq: c.id for c in await storage.call(lambda o: o.claim(400))}
    ok = {seq: EventResult(id=id_, status=ResultStatus.ACCEPTED) for seq, id_ in delivered.items()}
    await storage.call(lambda o: o.settle(ok))

    # Something else fills the disk: the taps go on, in the reserve's room (released on SQLITE_FULL).
    filler = fill(small_fs)
    assert await taps(1000, 1500) == 1500
    assert not (small_fs / "reserve.bin").exists()
    status = await storage.call(disk.check)
    assert status.reserve_released and status.low and status.reserve_bytes == 0
    assert pipeline.stats.storage_full == 0

    # Retention (here: a month later) prunes what the cloud holds; its pages are reused, not the disk.
    reusable_before = status.reusable_bytes
    pruned = await disk.sweep(storage)
    status = await storage.call(lambda o: disk.check(o))
    assert pruned == 0 and status.pruned_events == 0  # nothing delivered is a day old yet, even when low
    month_later = datetime.now(UTC) + timedelta(days=31)
    while await storage.call(lambda o: disk.prune(o, now=month_later)):
        pass
    status = await storage.call(lambda o: disk.check(o))
    assert status.pruned_events == 400
    assert status.reusable_bytes > reusable_before
    assert await taps(3000, 300) == 300  # in the freed pages

    # Then even that is gone: taps are denied as not recorded, and counted; the gateway still answers.
    before = len(answers)
    for start in range(10_000, 200_000, 10):
        await taps(start, 10)
        if answers[-1].reason == "storage_full":
            break
    else:
        pytest.fail("the disk never filled")
    assert not answers[-1].granted and "storage_full" not in answers[-1].display  # translated
    assert pipeline.stats.storage_full >= 1
    assert all(fb.granted for fb in answers[before:] if fb.reason != "storage_full")

    # Room again (the operator removed the file): taps are recorded and granted.
    filler.unlink()
    assert await taps(500_000, 10) == 10
    await storage.close()

    # Every granted tap is on disk: delivered and pruned, or still there and waiting for the cloud.
    db = open_database(small_fs / "gateway.db")
    held = dict(db.execute("SELECT id, state FROM events").fetchall())
    lost = [id_ for id_, seq in granted.items() if id_ not in held and seq not in delivered]
    assert lost == []
    assert all(held[id_] == EventState.PENDING for id_, seq in granted.items() if seq not in delivered)
    db.close()
