"""The outbox: sequence, group commit, dedupe of device refs, settle, and recovery after a crash."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlite_utils

from gateway.taps.outbox import Outbox, migrations, open_database
from shared.contract import Event, EventResult, ResultStatus
from tests.gateway.factories import draft


def answer(status: ResultStatus, reason: str | None = None) -> EventResult:
    """The cloud's answer; the outbox goes by seq, so the id only has to be well formed."""
    return EventResult(id="0192f3c4-5e6a-7b8c-9d0e-1f2a3b4c5d6e", status=status, reason=reason)


def test_seq_increases_and_survives_reopen_and_prune(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    first = outbox.record([draft(), draft()])
    assert [r.seq for r in first] == [1, 2]
    outbox.settle({r.seq: answer(ResultStatus.ACCEPTED) for r in first})
    outbox.prune(timedelta(seconds=-1))  # everything settled is gone
    outbox.db.close()
    again = Outbox(open_database(tmp_path / "g.db"))
    assert again.counts().recorded == 0
    assert [r.seq for r in again.record([draft()])] == [3]  # never reused


def test_group_of_any_size_is_stored_whole_and_in_order(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    groups = [draft() for _ in range(700)]  # more than one multi-row statement, and a ragged end
    recorded = outbox.record(groups)
    claimed = outbox.claim(1000)
    assert [c.seq for c in claimed] == list(range(1, 701))
    assert [c.id for c in claimed] == [d.id for d in groups]
    assert Event.model_validate_json(claimed[699].body).id.hex == groups[699].id.replace("-", "")
    assert recorded[699].seq == 700


def test_repeated_device_ref_is_recorded_once(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    a = outbox.record([draft("canteen-1", "tap-1"), draft("canteen-1", "tap-1")])
    b = outbox.record([draft("canteen-1", "tap-1")])
    assert [r.new for r in a] == [True, False]
    assert b[0].new is False and b[0].event.id == a[0].event.id and b[0].seq == a[0].seq
    assert b[0].event.decision is a[0].event.decision  # the same answer, read back from disk
    assert outbox.counts().recorded == 1
    # the same ref from another device is another tap
    assert outbox.record([draft("canteen-2", "tap-1")])[0].new


def test_claim_settle_states(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    recs = outbox.record([draft() for _ in range(5)])
    claimed = outbox.claim(3)
    assert [c.seq for c in claimed] == [1, 2, 3]
    outbox.settle(
        {
            1: answer(ResultStatus.ACCEPTED),
            2: answer(ResultStatus.DUPLICATE),
            3: answer(ResultStatus.REJECTED, "school_mismatch"),
        }
    )
    assert [c.seq for c in outbox.claim(10)] == [4, 5]
    counts = outbox.counts()
    assert (counts.pending, counts.delivered, counts.rejected) == (2, 2, 1)
    assert [str(i) for i in outbox.rejected_ids()] == [recs[2].event.id]
    # settling again (a late duplicate answer) changes nothing
    outbox.settle({1: answer(ResultStatus.REJECTED, "x")})
    assert outbox.counts().delivered == 2


def test_claim_finds_an_event_left_pending_behind_settled_ones(tmp_path: Path) -> None:
    outbox = Outbox(open_database(tmp_path / "g.db"))
    outbox.record([draft() for _ in range(6)])
    assert [c.seq for c in outbox.claim(3)] == [1, 2, 3]
    outbox.settle({1: answer(ResultStatus.ACCEPTED), 3: answer(ResultStatus.ACCEPTED)})  # 2 got no answer
    assert [c.seq for c in outbox.claim(10)] == [2, 4, 5, 6]
    outbox.settle({seq: answer(ResultStatus.ACCEPTED) for seq in (2, 4, 5, 6)})
    assert outbox.claim(10) == []
    outbox.record([draft()])
    assert [c.seq for c in outbox.claim(10)] == [7]


def test_upgrade_from_the_first_schema_keeps_every_event(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m003_lean_events")
    db.execute(
        "INSERT INTO events (seq, id, device_id, ref, kind, decision, occurred_at, body, state) VALUES "
        "(1, 'a', 'r1', NULL, 'entry', 'granted', 't', '{\"seq\": 1}', 1), "
        "(2, 'b', 'c1', 'tap-9', 'meal', 'granted', 't', ?, 0)",
        [draft("c1", "tap-9").body(2)],
    )
    db.execute("UPDATE seq_high_water SET seq = 2")
    db.conn.commit()
    db.close()
    path.chmod(0o600)  # made 0644 by a gateway before 0600 was its rule: the upgrade's one chmod
    outbox = Outbox(open_database(path))
    assert [(c.seq, c.id) for c in outbox.claim(10)] == [(2, "b")]
    assert (outbox.counts().delivered, outbox.counts().pending) == (1, 1)
    assert not outbox.record([draft("c1", "tap-9")])[0].new  # the dedupe index came along
    assert outbox.record([draft()])[0].seq == 3


CRASHER = """
import os, sys
from pathlib import Path
from gateway.taps.outbox import Outbox, open_database
from tests.gateway.factories import draft
outbox = Outbox(open_database(Path(sys.argv[1])))
for i in range(50):
    recs = outbox.record([draft()])
    print(recs[0].seq, flush=True)  # "granted" only after the commit returned
    if i == 29:
        os.kill(os.getpid(), 9)
"""


def test_everything_acknowledged_before_sigkill_is_on_disk(tmp_path: Path) -> None:
    db_path = tmp_path / "g.db"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", CRASHER, str(db_path)], capture_output=True, text=True, cwd=root)
    assert proc.returncode == -9, proc.stderr
    acknowledged = [int(line) for line in proc.stdout.split()]
    assert acknowledged == list(range(1, 31))
    outbox = Outbox(open_database(db_path))
    assert [c.seq for c in outbox.claim(100)] == acknowledged  # resume: all pending again


def test_what_runs_with_a_record_commits_with_it_or_not_at_all(tmp_path: Path) -> None:
    # The canteen's charges are written by the record's ``also``: a charge that fails to write
    # must take its meal with it, or the balance judged offline would miss a meal it served.
    outbox = Outbox(open_database(tmp_path / "g.db"))

    def full_disk(conn: object, recorded: object) -> None:
        raise OSError("disk full")

    try:
        outbox.record([draft(), draft()], also=full_disk)
    except OSError:
        pass
    else:
        raise AssertionError("the failure must reach the caller, who answers the reader 'storage error'")
    assert outbox.counts().pending == 0
    assert outbox.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    seen: list[int] = []
    recorded = outbox.record([draft()], also=lambda conn, recs: seen.extend(r.seq for r in recs))
    assert [r.seq for r in recorded] == seen == [1]  # the failed group took no seq either
