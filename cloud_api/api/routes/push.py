"""A guardian's devices and what they want to hear (Web Push, RFC 8030/8292).

GET    /v1/push/vapid-public-key          the applicationServerKey for PushManager.subscribe
POST   /v1/me/push-subscriptions          a guardian's device subscribes (its PushSubscription JSON): its
                                          endpoint must be a push service the deployment accepts, at most
                                          ten devices an account
DELETE /v1/me/push-subscriptions?endpoint=  it unsubscribes
POST   /v1/me/staff-push-subscriptions    a staff member's device subscribes to the alerts of what they
                                          are responsible for (the request's language becomes their notices')
DELETE /v1/me/staff-push-subscriptions?endpoint=  it unsubscribes
GET    /v1/me/notification-settings       language, entries and exits, meals
PUT    /v1/me/notification-settings
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from cloud_api.api.deps import CurrentAccount, CurrentGuardian, EngineDep, Guardian, LanguageDep, SettingsDep
from cloud_api.api.errors import refusals
from cloud_api.api.schemas.push import SettingsIO, SubscriptionIn, SubscriptionPublic, VapidKeyPublic
from cloud_api.core.errors import DomainError
from cloud_api.push import subscriptions
from cloud_api.push.endpoints import endpoint_policy
from cloud_api.push.keys import load_vapid_key
from cloud_api.services.accounts import STAFF_ROLES, Principal

__all__ = ["router"]

router = APIRouter(tags=["push"])
_GUARDIAN = refusals("not_a_guardian")


def _account_id(guardian: Guardian) -> UUID:
    account = guardian.principal.account
    assert account is not None  # a guardian is an account
    return account.id


@router.get(
    "/v1/push/vapid-public-key",
    response_model=VapidKeyPublic,
    summary="The key browsers subscribe with",
    responses=refusals("push_not_ready"),
)
def vapid_public_key(engine: EngineDep) -> VapidKeyPublic:
    """The deployment's VAPID public key (base64url): ``applicationServerKey`` for ``PushManager.subscribe``."""
    with engine.connect() as conn:
        key = load_vapid_key(conn)
    if key is None:
        raise DomainError("push_not_ready")
    return VapidKeyPublic(public_key=key.public)


@router.post(
    "/v1/me/push-subscriptions",
    response_model=SubscriptionPublic,
    status_code=201,
    summary="Subscribe a device",
    responses=refusals("not_a_guardian", "push_endpoint_not_allowed", "too_many_devices"),
)
def subscribe(
    body: SubscriptionIn, guardian: CurrentGuardian, engine: EngineDep, settings: SettingsDep
) -> SubscriptionPublic:
    """Keep a device's subscription; the same endpoint again (a renewed key, another account) replaces it.

    Refused: an endpoint that is not a push service the deployment accepts (``push_endpoint_not_allowed``:
    in production one of ``push_service_origins``, else https to public addresses only), and an eleventh
    device of one account (``too_many_devices``: remove one in the settings first).
    """
    subscriptions.check_endpoint(endpoint_policy(settings), body.endpoint)
    with engine.begin() as conn:
        found = subscriptions.subscribe_device(
            conn,
            school_id=guardian.school_id,
            guardian_id=guardian.person_id,
            account_id=_account_id(guardian),
            endpoint=body.endpoint,
            p256dh=body.keys.p256dh,
            auth=body.keys.auth,
        )
    return SubscriptionPublic(id=found)


@router.delete("/v1/me/push-subscriptions", status_code=204, summary="Unsubscribe a device", responses=_GUARDIAN)
def unsubscribe(
    endpoint: Annotated[str, Query(max_length=1000)], guardian: CurrentGuardian, engine: EngineDep
) -> Response:
    """Forget the device (only one's own: another guardian's endpoint is left alone)."""
    with engine.begin() as conn:
        subscriptions.forget_device(conn, guardian.school_id, guardian.person_id, endpoint)
    return Response(status_code=204)


@router.get(
    "/v1/me/notification-settings", response_model=SettingsIO, summary="Notification settings", responses=_GUARDIAN
)
def get_settings(guardian: CurrentGuardian, engine: EngineDep) -> SettingsIO:
    """What the guardian hears of, and in which language."""
    with engine.connect() as conn:
        found = subscriptions.notice_settings(conn, _account_id(guardian))
    return SettingsIO(language=found.language, entries=found.entries, meals=found.meals)  # type: ignore[arg-type]


@router.put(
    "/v1/me/notification-settings",
    response_model=SettingsIO,
    summary="Change notification settings",
    responses=_GUARDIAN,
)
def put_settings(body: SettingsIO, guardian: CurrentGuardian, engine: EngineDep) -> SettingsIO:
    """Change the language of notices, or stop entries and exits or meals."""
    wanted = subscriptions.NoticeSettings(body.language, body.entries, body.meals)
    with engine.begin() as conn:
        subscriptions.set_notice_settings(conn, _account_id(guardian), wanted)
    return body


def _staff_id(principal: Principal) -> UUID:
    if principal.account is None or not any(g.role in STAFF_ROLES for g in principal.grants):
        raise DomainError("not_allowed")
    return principal.account.id


@router.post(
    "/v1/me/staff-push-subscriptions",
    status_code=204,
    summary="Subscribe a staff device to alerts",
    responses=refusals("not_allowed", "push_endpoint_not_allowed", "too_many_devices"),
)
def subscribe_staff(
    body: SubscriptionIn, principal: CurrentAccount, engine: EngineDep, settings: SettingsDep, language: LanguageDep
) -> Response:
    """Keep a staff member's device: the alerts of the schools and regions they answer for reach it.

    The request's language (``Accept-Language``) becomes the language of their alerts' notices and letters.
    """
    account_id = _staff_id(principal)
    subscriptions.check_endpoint(endpoint_policy(settings), body.endpoint)
    with engine.begin() as conn:
        subscriptions.subscribe_staff_device(conn, account_id, body.endpoint, body.keys.p256dh, body.keys.auth)
        subscriptions.set_notice_settings(conn, account_id, subscriptions.NoticeSettings(language))
    return Response(status_code=204)


@router.delete(
    "/v1/me/staff-push-subscriptions",
    status_code=204,
    summary="Unsubscribe a staff device",
    responses=refusals("not_allowed"),
)
def unsubscribe_staff(
    endpoint: Annotated[str, Query(max_length=1000)], principal: CurrentAccount, engine: EngineDep
) -> Response:
    """Forget one of the staff member's devices."""
    with engine.begin() as conn:
        subscriptions.forget_staff_device(conn, _staff_id(principal), endpoint)
    return Response(status_code=204)
