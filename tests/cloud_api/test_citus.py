"""The cloud on a Citus cluster: every table placed as ``cloud_api.db.distribution`` says, and every
statement of a school's hot paths (a batch's ingest, a roster delta, a parent's day, the month's
rollups) planned on the coordinator as one task on one worker."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy import event as sqlalchemy_event

from cloud_api.api.deps import SESSION_COOKIE
from cloud_api.app import create_app
from cloud_api.db.distribution import DISTRIBUTION, REFERENCE
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import events, metadata, webhook_deliveries
from cloud_api.integrations.clients import create_client
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.integrations.webhooks.subscriptions import subscribe
from cloud_api.reports.issue import draft_report
from cloud_api.services.consent import set_consent
from cloud_api.services.gateways import register_gateway
from cloud_api.services.schools import place_school
from cloud_api.settings import CloudSettings
from mektep.citus_cluster import CitusCluster
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign
from shared.localtime import LOCAL_TZ
from shared.roster_contract import ROSTER_PATH
from tests.cloud_api.conftest import _truncate
from tests.cloud_api.helpers import ADMIN, KEY, KEY2, batch_body, count, event, signed
from tests.cloud_api.school import CHILD, MOTHER, World, seed_world, serve_lunch_today


def test_every_table_has_its_place_on_citus() -> None:
    # A table a migration adds must be placed, or it would stay on the coordinator alone.
    placed = set(DISTRIBUTION) | set(REFERENCE)
    assert {table.name for table in metadata.sorted_tables} == placed


@dataclass
class Plans:
    """Every statement run while watched, with the task counts of its plan on the coordinator."""

    seen: list[tuple[str, list[int]]] = field(default_factory=list)

    def spread(self) -> list[str]:
        """The statements planned as more than one task: more than one shard."""
        return [statement for statement, tasks in self.seen if any(n > 1 for n in tasks)]

    def distributed(self) -> int:
        """How many statements Citus planned (the rest read only the coordinator's own catalog)."""
        return sum(bool(tasks) for _, tasks in self.seen)


@contextlib.contextmanager
def planned(engine: Engine) -> Iterator[Plans]:
    """EXPLAIN each statement the engine runs, just before it runs, with its own parameters."""
    plans = Plans()

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", statement, re.I):
            return
        one = parameters[0] if executemany else parameters
        cursor.execute(f"EXPLAIN {statement}", one)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        tasks = [int(n) for n in re.findall(r"Task Count: (\d+)", plan)]
        if "INSERT/SELECT method: pull to coordinator" in plan:
            # Rows computed on the coordinator (a batch's events, from arrays) and sent on by their
            # school: one shard when the rows name one school.
            tasks = [len(set(one["school_id"]))]
        plans.seen.append((statement, tasks))

    sqlalchemy_event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", explain)


@pytest.fixture
def cluster_world(citus_url: str) -> Iterator[World]:
    """The sample school on an app whose database is the Citus coordinator."""
    upgrade(citus_url)
    _truncate(citus_url)
    # No background worker that claims across the deployment: its rounds would be counted as the
    # school's requests' (the webhooks' claim asks every shard, as every queue's claim must).
    settings = CloudSettings(database_url=citus_url, admin_token=ADMIN, push_workers=0, webhooks_enabled=False)
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.engine.begin() as conn:
            register_gateway(conn, "gw1", "s1", KEY)
            register_gateway(conn, "gw2", "s2", KEY2)
        world = seed_world(client, app)
        with app.state.engine.begin() as conn:
            set_consent(conn, "s1", world.ids[CHILD], world.ids[MOTHER], True, actor="mother")
            serve_lunch_today(conn, "s1")
            # An e-diary hears of s1's entries and meals: ingest queues its webhooks on the school's shard.
            place_school(conn, "s1", "School 1", "almaty")
            diary, _ = create_client(
                conn, name="e-diary", actor="admin", now=datetime.now(UTC), scopes=["attendance:read", "meals:read"]
            )
            subscribe(
                conn,
                client_id=diary.client_id,
                school_id="s1",
                url="http://127.0.0.1:9/hook",
                kinds=["entry", "meal"],
                actor="admin",
                now=datetime.now(UTC),
                policy=ReceiverPolicy(development=True),
            )
        yield world
    _truncate(citus_url)


@pytest.mark.citus
def test_a_schools_hot_paths_each_run_on_one_worker(cluster_world: World) -> None:
    world, engine = cluster_world, cluster_world.app.state.engine
    child = str(world.ids[CHILD])
    now = datetime.now(LOCAL_TZ).replace(microsecond=0)
    lunch = {"period": "lunch", "category": "free", "dishes": ["Палау"], "price_tiyn": 0}
    taps = [
        event(1, person_id=child, reason="on_roster", at=now.isoformat()),
        event(2, kind="meal", person_id=child, reason="on_roster", meal=lunch, at=now.isoformat()),
        event(3, at=now.isoformat()),  # an anonymous tap: stored and counted, nobody told
    ]
    body = batch_body(taps)
    with planned(engine) as ingest:
        answer = world.client.post("/v1/ingest/batches", content=body, headers=signed(body))
    assert answer.status_code == 200 and [r["status"] for r in answer.json()["results"]] == ["accepted"] * 3
    assert count(world.app, webhook_deliveries) == 2  # the entry and the lunch, queued in the same transaction

    ts = str(int(time.time()) + 1)
    path = f"{ROSTER_PATH}?since=0"
    headers = {HEADER_GATEWAY: "gw1", HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: sign(KEY.encode(), "GET", path, ts, b"")}
    with planned(engine) as roster:
        assert world.client.get(path, headers=headers).status_code == 200

    token = world.token("8 (701) 234-56-78")["Authorization"].removeprefix("Bearer ")
    world.client.cookies.set(SESSION_COOKIE, token)
    with planned(engine) as day:
        page = world.client.get(f"/app/children/{child}")
    assert page.status_code == 200 and "Палау" in page.text

    month = now.strftime("%Y-%m")
    with planned(engine) as rollups, engine.connect() as conn:
        draft = draft_report(conn, "s1", month, "meals")
    assert draft.content  # the lunch is in it

    for name, plans in (("ingest", ingest), ("roster", roster), ("parent's day", day), ("rollups", rollups)):
        assert plans.distributed() >= 3, f"{name}: Citus planned nothing: is the cluster distributing?"
        assert plans.spread() == [], f"{name} asked more than one shard:\n" + "\n\n".join(plans.spread())


@pytest.mark.citus
def test_migrate_places_every_table_and_a_second_run_does_nothing(citus_url: str) -> None:
    upgrade(citus_url)
    upgrade(citus_url)  # every API process migrates at start
    engine = make_engine(citus_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT logicalrelid::text, column_to_column_name(logicalrelid, partkey), colocationid "
                    "FROM pg_dist_partition WHERE NOT EXISTS "
                    "(SELECT 1 FROM pg_inherits WHERE inhrelid = logicalrelid)"
                )
            ).all()
    finally:
        engine.dispose()
    column = {table: name for table, name, _ in rows}
    group = {table: colocation for table, _, colocation in rows}
    assert {table: column[table] for table in DISTRIBUTION} == {t: p.column for t, p in DISTRIBUTION.items()}
    assert all(column[table] is None for table in REFERENCE)
    for table, placement in DISTRIBUTION.items():
        if placement.colocate_with is not None:  # a school's rows share its shard, an account's its
            assert group[table] == group[placement.colocate_with], table
    assert group["events"] != group["accounts"] != group["sessions"]


@pytest.mark.citus
def test_a_worker_down_mid_burst_is_a_503_and_the_retried_batch_lands_once(
    cluster_world: World, citus: CitusCluster
) -> None:
    world, engine = cluster_world, cluster_world.app.state.engine
    with engine.connect() as conn:
        port = conn.execute(
            text(
                "SELECT nodeport FROM citus_shards WHERE table_name = 'events'::regclass "
                "AND shardid = get_shard_id_for_distribution_column('events', 's1')"
            )
        ).scalar_one()
    holder = next(i for i, worker in enumerate(citus.workers) if worker.port == port)
    first, second = [event(n) for n in (1, 2)], [event(n) for n in (3, 4)]
    body = batch_body(first)
    assert world.client.post("/v1/ingest/batches", content=body, headers=signed(body)).status_code == 200

    citus.stop_worker(holder)
    try:
        body = batch_body(second)
        down = world.client.post("/v1/ingest/batches", content=body, headers=signed(body))
        assert down.status_code == 503 and down.headers["Retry-After"] == "5"
        assert down.json()["detail"]["code"] == "database_unavailable"
    finally:
        citus.start_worker(holder)
    engine.dispose()  # the pool's connections saw the worker go

    # The gateway kept the batch and sends it again (signed anew), then everything once more.
    body = batch_body(second)
    again = world.client.post("/v1/ingest/batches", content=body, headers=signed(body, ts=int(time.time()) + 1))
    assert [r["status"] for r in again.json()["results"]] == ["accepted", "accepted"]
    body = batch_body(first + second)
    replay = world.client.post("/v1/ingest/batches", content=body, headers=signed(body, ts=int(time.time()) + 2))
    assert [r["status"] for r in replay.json()["results"]] == ["duplicate"] * 4
    assert count(world.app, events) == 4
