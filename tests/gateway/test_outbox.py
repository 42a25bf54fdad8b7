"""The outbox: sequence, group commit, dedupe of device refs, settle, and recovery after a crash."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from uuid6 import uuid7

from cloud_api.contract import Decision, EventKind, EventResult, ResultStatus
from gateway.outbox import Outbox, open_database


def draft(device: str = "turnstile-1") -> dict[str, Any]:
    return {
        "id": uuid7(),
        "school_id": "s1",
        "gateway_id": "gw1",
        "device_id": device,
        "kind": EventKind.ENTRY,
        "occurred_at": datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
        "decision": Decision.GRANTED,
        "reason": "no_roster",
    }


def test_seq_increases_and_survives_reopen_and_prune(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    first = outbox.record([draft(), draft()], [None, None])
    assert [r.event.seq for r in first] == [1, 2]
    outbox.settle([EventResult(id=r.event.id, status=ResultStatus.ACCEPTED) for r in first])
    from datetime import timedelta

    outbox.prune(timedelta(seconds=-1))  # everything settled is gone
    outbox.db.close()
    again = Outbox(open_database(tmp_path / "g.db"))
    assert again.counts().recorded == 0
    assert [r.event.seq for r in again.record([draft()], [None])] == [3]  # never reused


def test_repeated_device_ref_is_recorded_once(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    a = outbox.record([draft("canteen-1"), draft("canteen-1")], ["tap-1", "tap-1"])
    b = outbox.record([draft("canteen-1")], ["tap-1"])
    assert [r.new for r in a] == [True, False]
    assert b[0].new is False and b[0].event.id == a[0].event.id
    assert outbox.counts().recorded == 1
    # the same ref from another device is another tap
    assert outbox.record([draft("canteen-2")], ["tap-1"])[0].new


def test_claim_settle_states(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    recs = outbox.record([draft() for _ in range(5)], [None] * 5)
    claimed = outbox.claim(3)
    assert [c.seq for c in claimed] == [1, 2, 3]
    outbox.settle(
        [
            EventResult(id=recs[0].event.id, status=ResultStatus.ACCEPTED),
            EventResult(id=recs[1].event.id, status=ResultStatus.DUPLICATE),
            EventResult(id=recs[2].event.id, status=ResultStatus.REJECTED, reason="school_mismatch"),
        ]
    )
    assert [c.seq for c in outbox.claim(10)] == [4, 5]
    counts = outbox.counts()
    assert (counts.pending, counts.delivered, counts.rejected) == (2, 2, 1)
    assert outbox.rejected_ids() == [recs[2].event.id]
    # settling again (a late duplicate answer) changes nothing
    outbox.settle([EventResult(id=recs[0].event.id, status=ResultStatus.REJECTED, reason="x")])
    assert outbox.counts().delivered == 2


CRASHER = """
import os, sys
from datetime import UTC, datetime
from uuid6 import uuid7
from gateway.outbox import Outbox, open_database
outbox = Outbox(open_database(__import__("pathlib").Path(sys.argv[1])))
for i in range(50):
    recs = outbox.record([{
        "id": uuid7(), "school_id": "s1", "gateway_id": "gw1", "device_id": "r1",
        "kind": "entry", "occurred_at": datetime.now(UTC), "decision": "granted", "reason": "x",
    }], [None])
    print(recs[0].event.seq, flush=True)  # "granted" only after the commit returned
    if i == 29:
        os.kill(os.getpid(), 9)
"""


def test_everything_acknowledged_before_sigkill_is_on_disk(tmp_path: Path) -> None:
    db_path = tmp_path / "g.db"
    proc = subprocess.run([sys.executable, "-c", CRASHER, str(db_path)], capture_output=True, text=True)
    assert proc.returncode == -9
    acknowledged = [int(line) for line in proc.stdout.split()]
    assert acknowledged == list(range(1, 31))
    outbox = Outbox(open_database(db_path))
    assert [c.seq for c in outbox.claim(100)] == acknowledged  # resume: all pending again
