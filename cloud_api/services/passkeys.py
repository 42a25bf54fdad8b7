"""Passkeys (WebAuthn, the ``webauthn`` package): a second factor, or the whole sign-in for those who have one.
The caller owns the transaction.

A passkey is registered from a signed-in page (**Account and security**): the browser makes a key
pair on the device (a phone's fingerprint, a laptop's PIN, a security key), the cloud keeps its
public key. It then signs in either after the password (instead of the app's code) or alone (the
browser offers the passkeys of this site; the one chosen names its account). Each ceremony's
challenge is random, kept in the session it belongs to (a half-done one for signing in) and used
once. The relying party is the site's host name: a passkey made at one address works only there.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert, select, update
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from cloud_api.core.errors import DomainError
from cloud_api.db.schema import passkeys, sessions
from cloud_api.services.audit import AuditEntry, write_audit

__all__ = [
    "RelyingParty",
    "authentication_options",
    "passkeys_of",
    "register_passkey",
    "registration_options",
    "verify_passkey",
]

RP_NAME = "Mektep Gate"


@dataclass(frozen=True)
class RelyingParty:
    """The site as WebAuthn sees it: its host name and the origin its pages are served from."""

    id: str
    origin: str


def _keep_challenge(conn: Connection, session_hash: str, challenge: bytes) -> None:
    conn.execute(
        update(sessions).where(sessions.c.token_hash == session_hash).values(challenge=bytes_to_base64url(challenge))
    )


def _take_challenge(conn: Connection, session_hash: str) -> bytes:
    kept = conn.execute(select(sessions.c.challenge).where(sessions.c.token_hash == session_hash)).scalar()
    if not kept:
        raise DomainError("passkey_failed")
    conn.execute(update(sessions).where(sessions.c.token_hash == session_hash).values(challenge=None))
    return base64url_to_bytes(kept)


def passkeys_of(conn: Connection, account_id: UUID) -> list[dict[str, Any]]:
    """The account's passkeys, oldest first: name, when made, when last used (no key material)."""
    rows = conn.execute(
        select(passkeys.c.credential_id, passkeys.c.name, passkeys.c.created_at, passkeys.c.last_used_at)
        .where(passkeys.c.account_id == account_id)
        .order_by(passkeys.c.created_at)
    )
    return [dict(r._mapping) for r in rows]


def _descriptors(conn: Connection, account_id: UUID) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(p["credential_id"])) for p in passkeys_of(conn, account_id)
    ]


def registration_options(conn: Connection, rp: RelyingParty, account_id: UUID, login: str, session_hash: str) -> str:
    """The options (JSON) for ``navigator.credentials.create``; the challenge is kept in the session."""
    existing = _descriptors(conn, account_id)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_id=account_id.bytes,
        user_name=login,
        user_display_name=login,
        exclude_credentials=existing,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.PREFERRED
        ),
    )
    _keep_challenge(conn, session_hash, options.challenge)
    return options_to_json(options)


def register_passkey(
    conn: Connection,
    rp: RelyingParty,
    account_id: UUID,
    session_hash: str,
    credential: dict[str, Any],
    name: str,
    now: datetime,
    *,
    actor: str,
    school_id: str | None,
) -> None:
    """Keep the passkey the browser made, once its attestation checks out against the kept challenge."""
    challenge = _take_challenge(conn, session_hash)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=rp.origin
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as refused:
        raise DomainError("passkey_failed", str(refused)) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    conn.execute(
        insert(passkeys).values(
            account_id=account_id,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=(name.strip() or "passkey")[:100],
            created_at=now,
        )
    )
    entry = AuditEntry("update", "account", str(account_id), None, {"second_factor": "passkey added"})
    write_audit(conn, school_id or "*", actor, now, [entry])


def authentication_options(conn: Connection, rp: RelyingParty, session_hash: str, account_id: UUID | None) -> str:
    """The options (JSON) for ``navigator.credentials.get``: the account's passkeys, or (None) any of this site's."""
    allowed = None if account_id is None else _descriptors(conn, account_id)
    # A passkey alone stands for the password and the second factor: the device must verify its user
    # (fingerprint, face, PIN), not only feel a touch.
    alone = account_id is None
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=secrets.token_bytes(32),
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED if alone else UserVerificationRequirement.PREFERRED,
    )
    _keep_challenge(conn, session_hash, options.challenge)
    return options_to_json(options)


def verify_passkey(
    conn: Connection,
    rp: RelyingParty,
    session_hash: str,
    credential: dict[str, Any],
    now: datetime,
    *,
    account_id: UUID | None,
) -> UUID:
    """The account whose passkey signed the kept challenge (``account_id``'s, if given); ``passkey_failed`` else."""
    challenge = _take_challenge(conn, session_hash)
    try:
        owner = account_id or UUID(bytes=base64url_to_bytes(credential["response"]["userHandle"]))
        credential_id = credential["id"]
    except (KeyError, TypeError, ValueError):
        raise DomainError("passkey_failed") from None
    if not isinstance(credential_id, str) or len(credential_id) > 1400:
        raise DomainError("passkey_failed")
    row = conn.execute(
        select(passkeys).where(passkeys.c.account_id == owner, passkeys.c.credential_id == credential_id)
    ).first()
    if row is None:
        raise DomainError("passkey_failed")
    try:
        verified = verify_authentication_response(
            credential=json.dumps(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=account_id is None,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as refused:
        raise DomainError("passkey_failed", str(refused)) from None
    conn.execute(
        update(passkeys)
        .where(passkeys.c.account_id == owner, passkeys.c.credential_id == credential_id)
        .values(sign_count=verified.new_sign_count, last_used_at=now)
    )
    return owner
