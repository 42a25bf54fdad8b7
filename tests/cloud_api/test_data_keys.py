"""Personal data at rest: IINs, phones, e-mails and the deployment's keys are ciphertexts in the tables,
found by their blind index, re-encrypted by ``mektep cloud rotate-key`` while the cloud serves."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, column, insert, select, text, update
from sqlalchemy import table as sa_table
from sqlalchemy.exc import IntegrityError

from cloud_api.core.data_keys import DataKeyError, DataKeys, make_data_key, parse_key
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import alembic_config, upgrade
from cloud_api.db.schema import audit_log, iin_indexes, people, wallet_outbox
from cloud_api.push.keys import ensure_vapid_key, load_vapid_key
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.gateways import register_gateway
from cloud_api.services.iin_correction import correct_iin
from cloud_api.services.key_rotation import rotate_keys
from cloud_api.services.people import PeopleQuery, list_people
from cloud_api.services.roster_import import import_roster
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEEN, iin

ON_CITUS = {
    "test_rotate_key_while_the_cloud_reads_and_writes",
    "test_stored_columns_hold_no_clear_iin_or_contact",
    "test_upgrading_a_database_with_clear_documents_encrypts_them",
}

OLD, NEW = make_data_key(), make_data_key()


def _keys(current: str, *previous: str) -> DataKeys:
    return DataKeys(parse_key(current), [parse_key(p) for p in previous])


@pytest.fixture
def old_engine(database_url: str) -> Iterator[Engine]:
    """The database migrated and a roster imported under the key ``OLD``."""
    upgrade(database_url, _keys(OLD))
    engine = make_engine(database_url, _keys(OLD))
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
        register_gateway(conn, "gw1", "s1", "k" * 32)
        ensure_vapid_key(conn)
    yield engine
    engine.dispose()


def _raw(engine: Engine, sql: str) -> list[str]:
    with engine.connect() as conn:
        return [str(v) for row in conn.execute(text(sql)) for v in row if v is not None]


def test_stored_columns_hold_no_clear_iin_or_contact(old_engine: Engine) -> None:
    stored = _raw(old_engine, "SELECT iin, phone, email FROM people")
    stored += _raw(old_engine, "SELECT key FROM gateways")
    stored += _raw(old_engine, "SELECT private_pem FROM deployment_keys")
    assert len(stored) == 4 + 1 + 1 + 1  # four IINs, the mother's phone, the gateway's key, the VAPID key
    assert all(value.startswith("e1:") for value in stored)
    everything = " ".join(stored)
    assert CHILD not in everything and "7012345678" not in everything and "k" * 32 not in everything
    assert "PRIVATE KEY" not in everything
    with old_engine.connect() as conn:  # read through the schema, the values come back clear
        assert {r.iin for r in conn.execute(select(people.c.iin))} == {row[1] for row in GOOD}
        assert conn.execute(select(people.c.phone).where(people.c.iin_index.in_(iin_indexes(conn, MOTHER)))).scalar()
        assert load_vapid_key(conn) is not None


def test_the_journal_of_an_import_and_a_correction_holds_no_clear_iin_or_contact(old_engine: Engine) -> None:
    corrected = iin("15031950099")
    with old_engine.begin() as conn:
        child = list_people(conn, "s1", PeopleQuery(q=CHILD, search_iin=True))[0][0]["id"]
        correct_iin(conn, "s1", child, corrected, actor="secretary")
    journal = _raw(old_engine, 'SELECT "before", "after" FROM audit_log')
    assert len(journal) >= len(GOOD) + 2  # a created row's after each, the correction's before and after
    assert all(value.startswith("e1:") for value in journal)
    everything = " ".join(journal)
    assert not any(number in everything for number in (CHILD, TEEN, MOTHER, corrected, "7012345678"))
    with old_engine.connect() as conn:  # read through the schema, the journal is what was written
        entries = conn.execute(select(audit_log.c.before, audit_log.c.after).order_by(audit_log.c.id)).all()
    assert (entries[-1].before, entries[-1].after) == ({"iin": CHILD}, {"iin": corrected})
    assert {e.after["iin"] for e in entries if e.before is None and e.after and "iin" in e.after} >= {CHILD, TEEN}
    with pytest.raises(TypeError, match="blind index"):
        _ = audit_log.c.after["iin"]  # nothing is asked of an encrypted document in SQL


def test_a_person_is_found_by_iin_unique_in_a_school_and_imported_again_unchanged(old_engine: Engine) -> None:
    with old_engine.begin() as conn:
        found, total = list_people(conn, "s1", PeopleQuery(q=TEEN, search_iin=True))
        assert total == 1 and found[0]["iin"] == TEEN
        assert list_people(conn, "s1", PeopleQuery(q=TEEN[:6], search_iin=True))[1] == 0  # no prefix search
        again = import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")
        assert (again.created, again.unchanged) == (0, len(GOOD))
    row = {"school_id": "s1", "role": "student", "last_name": "Екі", "first_name": "Бір", "active": True}
    with pytest.raises(IntegrityError), old_engine.begin() as conn:
        conn.execute(insert(people).values(**row, id=uuid.uuid4(), iin=TEEN, version=1, updated_at=datetime.now(UTC)))


def test_a_ciphertext_moved_to_another_column_or_read_with_a_wrong_key_fails_clearly(
    old_engine: Engine, database_url: str
) -> None:
    with old_engine.begin() as conn:  # the child's IIN copied into the mother's e-mail
        conn.execute(text("UPDATE people SET email = (SELECT iin FROM people WHERE phone IS NULL LIMIT 1)"))
    with pytest.raises(DataKeyError, match=r"people\.email does not decrypt"), old_engine.connect() as conn:
        conn.execute(select(people.c.email)).all()
    stranger = make_engine(database_url, _keys(NEW))
    try:
        with pytest.raises(DataKeyError, match="which the settings do not hold"), stranger.connect() as conn:
            conn.execute(select(people.c.iin)).all()
    finally:
        stranger.dispose()
    with pytest.raises(TypeError, match="blind index"):
        _ = people.c.iin == CHILD  # a comparison that could never match is refused, not silently empty


def test_upgrading_a_database_with_clear_rows_encrypts_them(database_url: str) -> None:
    upgrade(database_url, _keys(OLD))
    command.downgrade(alembic_config(database_url), "0027")  # what a deployment ran before: clear rows
    engine = make_engine(database_url, _keys(OLD))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO people (school_id, id, iin, role, last_name, first_name, phone, active, version, "
                    "updated_at) VALUES ('s1', :id, :iin, 'guardian', 'Ана', 'Бір', '+77012345678', true, 1, :at)"
                ),
                {"id": uuid.uuid4().hex, "iin": MOTHER, "at": datetime.now(UTC)},
            )
            conn.execute(
                text("INSERT INTO gateways VALUES ('gw9', 's1', 'clear-gateway-key-0123456789', :at)"),
                {"at": datetime.now(UTC)},
            )
        config = alembic_config(database_url)
        config.attributes["data_keys"] = _keys(OLD)
        command.upgrade(config, "head")
        stored = " ".join(_raw(engine, "SELECT iin, phone FROM people") + _raw(engine, "SELECT key FROM gateways"))
        assert MOTHER not in stored and "7012345678" not in stored and "clear-gateway" not in stored
        with engine.connect() as conn:
            found = conn.execute(select(people.c.phone).where(people.c.iin_index.in_(iin_indexes(conn, MOTHER))))
            assert found.scalar_one() == "+77012345678"
    finally:
        engine.dispose()


def test_upgrading_a_database_with_clear_documents_encrypts_them(database_url: str) -> None:
    upgrade(database_url, _keys(OLD))
    command.downgrade(alembic_config(database_url), "0029")  # 0029's deployment: clear JSON documents
    engine = make_engine(database_url, _keys(OLD))
    sent = {"record_id": "r", "student_iin": CHILD, "dishes": ["Көже"], "price_tiyn": 95000}
    record = uuid.uuid4()
    try:
        with engine.begin() as conn:
            raw_outbox = sa_table("wallet_outbox", *(column(c.name) for c in wallet_outbox.c))
            conn.execute(
                insert(raw_outbox).values(
                    school_id="s1",
                    record_id=record if conn.dialect.name == "postgresql" else record.hex,
                    person_id=uuid.uuid4().hex,
                    local_date="2026-11-24",
                    period="lunch",
                    payload=json.dumps(sent),
                    status="pending",
                    attempts=0,
                    created_at=datetime.now(UTC),
                )
            )
            for n in range(3):  # more than one row, the last with no "before"
                conn.execute(
                    text(
                        'INSERT INTO audit_log (school_id, at, actor, action, entity, entity_id, "before", "after") '
                        "VALUES ('s1', :at, 'admin', 'update', 'person', :id, :before, :after)"
                    ),
                    {
                        "at": datetime.now(UTC),
                        "id": str(n),
                        "before": None if n == 2 else json.dumps({"iin": TEEN, "phone": "+77012345678"}),
                        "after": json.dumps({"iin": MOTHER, "last_name": "Нұрланова"}, ensure_ascii=False),
                    },
                )
        config = alembic_config(database_url)
        config.attributes["data_keys"] = _keys(OLD)
        command.upgrade(config, "head")
        stored = _raw(engine, "SELECT payload FROM wallet_outbox") + _raw(
            engine, 'SELECT "before", "after" FROM audit_log'
        )
        assert len(stored) == 1 + 5 and all(value.startswith("e1:") for value in stored)
        assert not any(n in " ".join(stored) for n in (CHILD, TEEN, MOTHER, "7012345678"))
        with engine.connect() as conn:  # the same documents, read through the schema
            assert conn.execute(select(wallet_outbox.c.payload)).scalar_one() == sent
            journal = conn.execute(select(audit_log.c.before, audit_log.c.after).order_by(audit_log.c.id)).all()
        assert [tuple(r) for r in journal] == [
            ({"iin": TEEN, "phone": "+77012345678"}, {"iin": MOTHER, "last_name": "Нұрланова"}),
            ({"iin": TEEN, "phone": "+77012345678"}, {"iin": MOTHER, "last_name": "Нұрланова"}),
            (None, {"iin": MOTHER, "last_name": "Нұрланова"}),
        ]
        command.downgrade(config, "0029")  # and back: the clear documents again
        with engine.connect() as conn:
            clear = conn.execute(text("SELECT payload FROM wallet_outbox")).scalar_one()  # psycopg parses JSON
        assert (json.loads(clear) if isinstance(clear, str) else clear) == sent
    finally:
        engine.dispose()


def test_rotate_key_while_the_cloud_reads_and_writes(old_engine: Engine, database_url: str) -> None:
    rotating = make_engine(database_url, _keys(NEW, OLD))  # every API process: the new key writes, both read
    stop, seen, errors = threading.Event(), [], []

    def serve() -> None:  # what the office does meanwhile: find people by IIN, change a phone, correct an IIN
        n = 0
        try:
            while not stop.is_set():
                n += 1
                with rotating.begin() as conn:
                    found = list_people(conn, "s1", PeopleQuery(q=MOTHER, search_iin=True))[0]
                    seen.append(found[0]["iin"])
                    conn.execute(update(people).where(people.c.id == found[0]["id"]).values(phone=f"+7701{n:07d}"))
                    teen = list_people(conn, "s1", PeopleQuery(q=TEEN, search_iin=True))[0]
                    assert teen and teen[0]["iin"] == TEEN
        except Exception as exc:
            errors.append(exc)

    with old_engine.begin() as conn:  # more rows than a batch, so that the rotation takes several
        rows = [
            ["student", iin(f"1001016{i:04d}"), "Оқушы", f"№{i}", "5А", "kk", "", "", "", "", ""] for i in range(30)
        ]
        import_roster(conn, "s1", parse_rows([HEADER, *rows]), actor="admin")
    worker = threading.Thread(target=serve)
    worker.start()
    try:
        report = rotate_keys(rotating, batch=4)
    finally:
        stop.set()
        worker.join()
    assert not errors, errors
    assert seen and set(seen) == {MOTHER}
    assert report.rewritten["people"] >= 34 and report.rewritten["gateways"] == 1
    assert report.rewritten["audit_log"] >= 34  # the journal of the imports, found by its column type too
    new_id = _keys(NEW).current.id
    stored = _raw(rotating, "SELECT iin, phone, email FROM people") + _raw(rotating, "SELECT key FROM gateways")
    stored += _raw(rotating, "SELECT private_pem FROM deployment_keys")
    stored += _raw(rotating, 'SELECT "before", "after" FROM audit_log')
    assert all(value.startswith(f"e1:{new_id}:") for value in stored)
    rotating.dispose()
    after = make_engine(database_url, _keys(NEW))  # the old key has left the settings: everything still reads
    try:
        with after.begin() as conn:
            assert list_people(conn, "s1", PeopleQuery(q=CHILD, search_iin=True))[1] == 1
            assert correct_iin(
                conn,
                "s1",
                list_people(conn, "s1", PeopleQuery(q=CHILD, search_iin=True))[0][0]["id"],
                iin("15031950099"),
                actor="t",
            )
            assert load_vapid_key(conn) is not None
            assert any(a and a.get("iin") == CHILD for a in conn.execute(select(audit_log.c.after)).scalars())
        again = rotate_keys(after)  # again: nothing left to do
        assert again.rewritten["people"] == 0 and again.rewritten["audit_log"] == 0
    finally:
        after.dispose()


def test_a_row_the_office_changed_during_the_last_batch_is_rotated_all_the_same(
    old_engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotation's update finds a row changed by the app since it read it: it must read it again,
    even when that was the table's last, short batch (it once ended the table there, leaving it stale)."""
    from cloud_api.services import key_rotation

    rewrite, raced = key_rotation._rewrite_row, []

    def office_first(conn, raw, name, keyed, names, row, keys):  # type: ignore[no-untyped-def]
        if name == "people" and not raced:
            raced.append(row)
            return False  # as when the office wrote the row between the rotation's read and its update
        return rewrite(conn, raw, name, keyed, names, row, keys)

    monkeypatch.setattr(key_rotation, "_rewrite_row", office_first)
    rotating = make_engine(database_url, _keys(NEW, OLD))
    try:
        report = rotate_keys(rotating, batch=500)  # every table in one short batch
        stored = _raw(rotating, "SELECT iin FROM people")
    finally:
        rotating.dispose()
    assert raced and report.raced == 1
    new_id = _keys(NEW).current.id
    assert stored and all(value.startswith(f"e1:{new_id}:") for value in stored)
