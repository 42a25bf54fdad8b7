"""The services without HTTP: gateways, the journal's retention, concurrent ingest of the same events."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import Engine, select

from cloud_api.api.routes.ingest import ingest
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.db.schema import events, packets, webhook_deliveries
from cloud_api.services.gateways import GatewayConflict, find_gateway, register_gateway
from cloud_api.services.journal import prune_packets
from cloud_api.services.signatures import Refusal, Refused, check_signature
from shared.contract import INGEST_PATH, ResultStatus, sign
from tests.cloud_api.helpers import KEY, batch_body, event


@pytest.fixture(autouse=True)
def gateway(engine: Engine) -> None:
    """Gateway gw1 of school s1, registered."""
    with engine.begin() as conn:
        register_gateway(conn, "gw1", "s1", KEY)


def test_register_then_rotate_keeps_the_school(engine: Engine) -> None:
    with engine.begin() as conn:
        assert register_gateway(conn, "gw9", "s9", "first-key-of-gw9!") is True
        assert register_gateway(conn, "gw9", "s9", "second-key-of-gw9") is False
        found = find_gateway(conn, "gw9")
        assert found is not None and (found.school_id, found.key) == ("s9", b"second-key-of-gw9")
        with pytest.raises(GatewayConflict, match="belongs to school 's9'"):
            register_gateway(conn, "gw9", "s10", "third-key-of-gw9!")
        with pytest.raises(ValueError, match="16"):
            register_gateway(conn, "gw10", "s9", "short")
        assert find_gateway(conn, "nobody") is None


def test_check_signature_names_the_failed_check(engine: Engine) -> None:
    body, now = b"{}", time.time()
    ts = str(int(now))
    good = sign(KEY.encode(), "POST", INGEST_PATH, ts, body)
    cases = {
        Refusal.MISSING_SIGNATURE: dict(gateway_id="gw1", timestamp=ts, signature=""),
        Refusal.UNKNOWN_GATEWAY: dict(gateway_id="gw0", timestamp=ts, signature=good),
        Refusal.BAD_SIGNATURE: dict(gateway_id="gw1", timestamp=ts, signature=good.upper()),
        Refusal.STALE_TIMESTAMP: dict(gateway_id="gw1", timestamp=ts, signature=good, now=now + 301),
    }
    with engine.connect() as conn:
        for code, kw in cases.items():
            with pytest.raises(Refused) as caught:
                check_signature(conn, body=body, max_skew_s=300, **{"now": now, **kw})  # type: ignore[arg-type]
            assert caught.value.refusal is code
        signed = check_signature(
            conn, gateway_id="gw1", timestamp=ts, signature=good, body=body, now=now, max_skew_s=300
        )
        assert signed.gateway.school_id == "s1" and signed.body == body


def test_concurrent_deliveries_of_the_same_events_store_each_once(engine: Engine) -> None:
    # Four gateway retries racing (a lost answer, a proxy retry...): every event accepted exactly once.
    evs = [event(i) for i in range(1, 201)]

    def deliver(attempt: int) -> list[ResultStatus]:
        with engine.connect() as conn:
            body = batch_body(evs)
            ts = str(int(time.time()))
            signed = check_signature(
                conn,
                gateway_id="gw1",
                timestamp=ts,
                signature=sign(KEY.encode(), "POST", INGEST_PATH, ts, body),
                body=body,
                now=time.time(),
                max_skew_s=300,
            )
        return [r.status for r in ingest(engine, signed).results]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(deliver, range(4)))
    for position in range(len(evs)):
        statuses = sorted(answer[position] for answer in answers)
        assert statuses == [ResultStatus.ACCEPTED] + [ResultStatus.DUPLICATE] * 3, position
    with engine.connect() as conn:
        assert len(conn.execute(select(events.c.id)).all()) == 200


def test_prune_removes_only_packets_older_than_the_retention(engine: Engine) -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for days_ago, signature in ((401, "a" * 64), (399, "b" * 64)):
            conn.execute(
                packets.insert().values(
                    school_id="s1",
                    direction="in",
                    gateway_id="gw1",
                    received_at=now - timedelta(days=days_ago),
                    method="POST",
                    path=INGEST_PATH,
                    timestamp="0",
                    signature=signature,
                    body_sha256="0" * 64,
                    body=b"{}",
                    status_code=200,
                    accepted=0,
                    duplicates=0,
                    rejected=0,
                )
            )
        assert prune_packets(conn, now, 400) == 1
        assert [r.signature for r in conn.execute(select(packets.c.signature))] == ["b" * 64]


def test_old_settled_webhook_messages_are_pruned_and_a_waiting_one_never(engine: Engine) -> None:
    now = datetime.now(UTC)
    subscription = uuid4()
    with engine.begin() as conn:
        for state, days_ago in (("delivered", 401), ("skipped", 401), ("pending", 401), ("delivered", 399)):
            conn.execute(
                webhook_deliveries.insert().values(
                    school_id="s1",
                    id=uuid4(),
                    subscription_id=subscription,
                    event_type="entry.created",
                    body="{}",
                    state=state,
                    attempts=1,
                    created_at=now - timedelta(days=days_ago),
                )
            )
        assert prune_packets(conn, now, 400) == 2
        left = sorted(
            (r.state, r.created_at < now - timedelta(days=400)) for r in conn.execute(select(webhook_deliveries))
        )
    assert left == [("delivered", False), ("pending", True)]  # the old one waiting for its receiver stays


def test_a_naive_datetime_is_a_bug_and_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    engine = make_engine(url)
    with pytest.raises(Exception, match="naive datetime"), engine.begin() as conn:
        conn.execute(
            packets.insert().values(
                school_id="s1",
                direction="in",
                gateway_id="gw1",
                received_at=datetime(2026, 1, 1),
                method="POST",
                path="/",
                timestamp="0",
                signature="c",
                body_sha256="0",
                body=b"",
                status_code=200,
                accepted=0,
                duplicates=0,
                rejected=0,
            )
        )
    engine.dispose()
