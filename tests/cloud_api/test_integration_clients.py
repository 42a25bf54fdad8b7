"""The registry of outside systems: registered with a secret shown once, rotated with an overlap,
revoked at once, limited to its region and schools, and journalled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from cloud_api.core.errors import DomainError
from cloud_api.integrations.clients import (
    authenticate,
    create_client,
    list_clients,
    may_serve_school,
    revoke_client,
    rotate_secret,
    schools_served,
)
from cloud_api.services.audit import audit_entries
from cloud_api.services.schools import place_school

ON_CITUS = ["test_a_system_is_registered_rotated_and_revoked"]
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def places(engine: Engine) -> Engine:
    with engine.begin() as conn:
        place_school(conn, "s1", "School 1", "almaty")
        place_school(conn, "s2", "School 2", "almaty")
        place_school(conn, "s3", "School 3", "astana")
    return engine


def test_a_system_is_registered_rotated_and_revoked(places: Engine) -> None:
    with places.begin() as conn:
        client, secret = create_client(
            conn,
            name="Kundelik e-diary",
            actor="account:admin",
            now=NOW,
            redirect_uris=["https://kundelik.example/cb"],
            claims=["class", "school"],
            scopes=["attendance:read"],
            region_id="almaty",
        )
    with places.begin() as conn:
        assert authenticate(conn, client.client_id, secret, NOW) == client
        assert authenticate(conn, client.client_id, secret + "x", NOW) is None
        assert authenticate(conn, "mk_nobody", secret, NOW) is None
        assert schools_served(conn, client) == ["s1", "s2"]
        assert may_serve_school(conn, client, "s1") and not may_serve_school(conn, client, "s3")
        new = rotate_secret(conn, client.client_id, actor="account:admin", now=NOW)
    with places.begin() as conn:
        # Both secrets work during the overlap; then only the new one.
        assert authenticate(conn, client.client_id, secret, NOW + timedelta(hours=23)) is not None
        assert authenticate(conn, client.client_id, new, NOW + timedelta(hours=23)) is not None
        assert authenticate(conn, client.client_id, secret, NOW + timedelta(hours=25)) is None
        revoke_client(conn, client.client_id, actor="account:admin", now=NOW)
    with places.begin() as conn:
        assert authenticate(conn, client.client_id, new, NOW) is None
        assert not may_serve_school(conn, list_clients(conn, region_id="almaty")[0], "s1")
        journal = audit_entries(conn, "*", "integration_client")
    assert [e["action"] for e in journal] == ["create", "update", "delete"]
    assert journal[0]["after"]["claims"] == ["class", "school"]
    assert secret not in str(journal) and new not in str(journal)


def test_a_system_limited_to_some_schools(places: Engine) -> None:
    with places.begin() as conn:
        client, _ = create_client(
            conn, name="Library", actor="system", now=NOW, scopes=["roster:read"], region_id="almaty", school_ids=["s2"]
        )
        assert schools_served(conn, client) == ["s2"]
        assert not may_serve_school(conn, client, "s1")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": " "}, "integration_name_required"),
        ({"redirect_uris": ["http://platform.example/cb"]}, "integration_redirect_not_https"),
        ({"redirect_uris": ["https://platform.example/cb#x"]}, "integration_redirect_invalid"),
        ({"claims": ["iin"]}, "integration_claim_unknown"),
        ({"scopes": ["everything"]}, "integration_scope_unknown"),
        ({"scopes": []}, "integration_does_nothing"),
        ({"school_ids": ["s3"]}, "integration_school_outside"),
        ({"rate_per_minute": 0}, "integration_rate_invalid"),
    ],
)
def test_a_wrong_registration_names_its_field(places: Engine, fields: dict, code: str) -> None:
    wanted = {"name": "Platform", "scopes": ["meals:read"], "region_id": "almaty", **fields}
    with places.begin() as conn, pytest.raises(DomainError) as refused:
        create_client(conn, actor="system", now=NOW, **wanted)
    assert refused.value.code == code


def test_a_loopback_redirect_may_be_plain_http(places: Engine) -> None:
    with places.begin() as conn:
        client, _ = create_client(conn, name="Dev", actor="system", now=NOW, redirect_uris=["http://localhost:9/cb"])
    assert client.redirect_uris == ("http://localhost:9/cb",)
