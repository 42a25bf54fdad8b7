"""How an outside provider's user becomes one of our accounts: by a verified claim, once, then by subject."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloud_api.core.errors import DomainError
from cloud_api.services.single_sign_on import link_account
from cloud_api.settings import SignInProvider
from tests.cloud_api.school import World

PROVIDER = SignInProvider(issuer="https://id.example.kz", client_id="c", client_secret="s", label="eGov")  # type: ignore[arg-type]


def test_an_unverified_e_mail_links_nobody_and_a_verified_one_links_once(world: World) -> None:
    now = datetime.now(UTC)
    with world.app.state.engine.begin() as conn:
        with pytest.raises(DomainError) as refused:
            link_account(
                conn, "egov", PROVIDER, {"sub": "123", "email": "father@mail.kz", "email_verified": False}, now
            )
        assert refused.value.code == "sso_no_account"
        linked = link_account(
            conn, "egov", PROVIDER, {"sub": "123", "email": "Father@Mail.kz", "email_verified": True}, now
        )
        assert linked == world.ids["father"]
        # Later the subject is enough, even when the provider's e-mail has changed since.
        again = link_account(
            conn, "egov", PROVIDER, {"sub": "123", "email": "new@mail.kz", "email_verified": True}, now
        )
        assert again == world.ids["father"]
        with pytest.raises(DomainError):
            link_account(conn, "egov", PROVIDER, {"sub": "999", "email": "nobody@mail.kz", "email_verified": True}, now)


def test_a_provider_vouching_for_another_claim_links_by_it(world: World) -> None:
    phone = SignInProvider(
        issuer="https://id.example.kz", client_id="c", client_secret="s", label="ID", claim="phone_number"
    )  # type: ignore[arg-type]
    with world.app.state.engine.begin() as conn:
        linked = link_account(
            conn,
            "id",
            phone,
            {"sub": "p-1", "phone_number": "8 701 234 56 78", "phone_number_verified": True},
            datetime.now(UTC),
        )
    assert linked == world.ids["mother"]


def test_an_unverified_phone_number_links_nobody_and_a_deleted_account_keeps_no_link(world: World) -> None:
    from cloud_api.services.account_lifecycle import delete_account
    from cloud_api.services.accounts import Principal

    phone = SignInProvider(
        issuer="https://id.example.kz", client_id="c", client_secret="s", label="ID", claim="phone_number"
    )  # type: ignore[arg-type]
    now = datetime.now(UTC)
    with world.app.state.engine.begin() as conn:
        with pytest.raises(DomainError):
            link_account(conn, "id", phone, {"sub": "p-1", "phone_number": "+77012345678"}, now)
        linked = link_account(
            conn, "egov", PROVIDER, {"sub": "42", "email": "father@mail.kz", "email_verified": True}, now
        )
        delete_account(conn, Principal(None, frozenset()), linked, now)
        # The deleted account's link is gone with it: the same person is not signed in as nobody.
        with pytest.raises(DomainError):
            link_account(conn, "egov", PROVIDER, {"sub": "42", "email": "father@mail.kz", "email_verified": True}, now)
