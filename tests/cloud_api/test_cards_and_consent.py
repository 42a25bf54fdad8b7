"""Cards (assign, block, replace) and consent (only a guardian, history kept), each change versioned and audited."""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy import Engine, select

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import credentials, iin_indexes, people
from cloud_api.roster.nedb import parse_rows
from cloud_api.services.audit import audit_entries
from cloud_api.services.cards import assign_card, block_card, replace_card
from cloud_api.services.consent import consents_of, set_consent
from cloud_api.services.roster_import import import_roster
from cloud_api.services.roster_versions import current_version
from shared.contract import CredentialKind, credential_hash
from tests.cloud_api.school import CHILD, GOOD, HEADER, MOTHER, TEEN

KEY = b"school-credential-key"


@pytest.fixture(autouse=True)
def roster(engine: Engine) -> None:
    with engine.begin() as conn:
        import_roster(conn, "s1", parse_rows([HEADER, *GOOD]), actor="admin")


def person(engine: Engine, iin: str) -> UUID:
    with engine.connect() as conn:
        return conn.execute(select(people.c.id).where(people.c.iin_index.in_(iin_indexes(conn, iin)))).scalar_one()  # type: ignore[no-any-return]


def test_card_lifecycle(engine: Engine) -> None:
    child = person(engine, CHILD)
    card = credential_hash(KEY, "0A1B2C3D4E")
    with engine.begin() as conn:
        first = assign_card(conn, "s1", child, CredentialKind.EM4100, card, actor="admin")
        with pytest.raises(DomainError) as taken:  # the same card cannot be anybody else's
            assign_card(conn, "s1", person(engine, TEEN), CredentialKind.EM4100, card, actor="admin")
        assert taken.value.code == "card_already_assigned"
    with engine.begin() as conn:
        new = replace_card(conn, "s1", first, credential_hash(KEY, "0A1B2C3D4F"), actor="admin")
        block_card(conn, "s1", new, actor="admin")
        with pytest.raises(DomainError) as again:
            block_card(conn, "s1", new, actor="admin")
        assert again.value.code == "card_not_active"
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(credentials.c.id, credentials.c.status)).all())
        assert statuses == {first: "replaced", new: "blocked"}  # the old card stays known, refused
        trail = [(e["action"], e["after"]) for e in audit_entries(conn, "s1", "credential")]
        assert [a for a, _ in trail] == ["create", "update", "create", "update"]
        assert current_version(conn, "s1") == 5  # the import, then one version a change


def test_only_a_guardian_consents_and_history_is_kept(engine: Engine) -> None:
    child, mother, teen = person(engine, CHILD), person(engine, MOTHER), person(engine, TEEN)
    with engine.begin() as conn:
        assert consents_of(conn, "s1") == {}  # nobody consented yet: no identity leaves the gateway
        set_consent(conn, "s1", child, mother, True, actor="mother")
        set_consent(conn, "s1", child, mother, True, actor="mother")  # the same again: no new row
        set_consent(conn, "s1", teen, mother, True, actor="mother")
        set_consent(conn, "s1", child, mother, False, actor="mother")
        with pytest.raises(DomainError) as refused:
            set_consent(conn, "s1", mother, child, True, actor="child")  # a child is nobody's guardian
        assert refused.value.code == "unknown_person"
    with engine.connect() as conn:
        assert consents_of(conn, "s1") == {child: False, teen: True}
        assert [e["after"]["given"] for e in audit_entries(conn, "s1", "consent")] == [True, True, False]
