"""Issuing many reports at once: drafts made side by side, versions stored one by one, none stale."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud_api.contract import INGEST_PATH
from cloud_api.reports import issue
from cloud_api.reports.formats import canonical_json
from cloud_api.reports.issue import draft_report, issue_draft, issue_report, issue_reports
from tests.cloud_api.helpers import batch_body, event, signed
from tests.cloud_api.test_nedb_roster import TEEN
from tests.cloud_api.test_reports import PLOV, SCHOOL_DAYS, at, lunch, school  # noqa: F401  (the fixture)


def late_meal(client: TestClient, who: dict[str, str], seq: int = 9999) -> None:
    """A discounted lunch of the teen's that a gateway delivers after the month's reports."""
    body = batch_body([event(seq, kind="meal", person_id=who[TEEN], reason="on_roster",
                             meal=lunch("discounted", PLOV // 2), at=at(SCHOOL_DAYS[10], "12:50"))])  # fmt: skip
    assert client.post(INGEST_PATH, content=body, headers=signed(body)).status_code == 200


def test_a_schools_two_reports_are_drafted_side_by_side_and_stored_in_order(
    school: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = school["engine"]
    together = threading.Barrier(2, timeout=10)
    built = dict(issue._BUILDERS)

    def meeting(kind: str) -> Callable[..., dict[str, Any]]:
        def build(conn: Any, subject: str, month: str) -> dict[str, Any]:
            together.wait()  # drafted one after the other, the first waits here alone and fails
            return built[kind](conn, subject, month)

        return build

    for kind in ("meals", "attendance"):
        monkeypatch.setitem(issue._BUILDERS, kind, meeting(kind))
    got = list(issue_reports(engine, "2026-10", [("s1", "meals"), ("s1", "attendance")]))
    assert [(i.kind, i.version, i.new) for i in got] == [("meals", 1, True), ("attendance", 1, True)]
    with engine.connect() as conn:
        for i in got:  # each the content a single, serial build gives
            assert i.files[f"{i.kind}.json"] == canonical_json(built[i.kind](conn, "s1", "2026-10"))
    assert [i.new for i in issue_reports(engine, "2026-10", [("s1", "meals"), ("s1", "attendance")])] == [False] * 2


def test_a_draft_overtaken_by_a_newer_version_is_drafted_again_not_stored_stale(
    school: dict[str, Any],  # noqa: F811
    client: TestClient,
) -> None:
    engine = school["engine"]
    with engine.connect() as conn:
        stale = draft_report(conn, "s1", "2026-10", "meals")  # drafted before the late lunch came
    late_meal(client, school["who"])
    with engine.begin() as conn:
        newer = issue_report(conn, "s1", "2026-10", "meals")  # say, by `mektep report build`
    with engine.begin() as conn:
        stored = issue_draft(conn, stale)
    assert (newer.version, stored.version, stored.new) == (1, 1, False)  # not a v2 without the late lunch
