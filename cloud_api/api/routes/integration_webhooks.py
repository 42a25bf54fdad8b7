"""An outside system's own webhook subscriptions, managed with its API token.

    GET    /v1/integrations/webhooks                                   its subscriptions
    POST   /v1/integrations/webhooks                                   subscribe (201; the secret, once)
    GET    /v1/integrations/webhooks/{school}/{id}                     one of them
    DELETE /v1/integrations/webhooks/{school}/{id}                     remove it (204; waiting webhooks dropped)
    POST   /v1/integrations/webhooks/{school}/{id}/rotate              a new secret, once (the previous one
                                                                       signs beside it for a day)
    POST   /v1/integrations/webhooks/{school}/{id}/pause               stop delivering (webhooks wait)
    POST   /v1/integrations/webhooks/{school}/{id}/resume              deliver again, the oldest first

A subscription is keyed by its school and id, as :mod:`cloud_api.integrations.webhooks.subscriptions`
keeps it. Every call goes through the API's one gate (:data:`~cloud_api.api.routes.integrations.ApiClient`):
a valid token, the limit a minute, journalled. A system sees and changes only its own subscriptions:
another's, or one removed, answers 404 ``webhook_subscription_unknown`` as one that never was.

Subscribing refuses as the read routes do: a school outside the system's reach is 403
``school_not_served``, a kind whose scope the token does not carry (``meal`` without
``meals:read``…) is 403 ``scope_not_granted``; a receiver the cloud will not post to is 422
``webhook_url_…``. Managing a subscription needs only a valid token of its system (a system that
lost a scope or a school can still see, pause and remove what it made; the worker skips what it
may no longer hear of). The audit journal names the system ``client:<client_id>``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import Connection

from cloud_api.api.deps import EngineDep, SchoolPath
from cloud_api.api.errors import refusals
from cloud_api.api.routes.integrations import ApiCall, ApiClient, refused_call
from cloud_api.api.schemas.integration_webhooks import (
    WebhookSubscriptionCreate,
    WebhookSubscriptionPublic,
    WebhookSubscriptionsPublic,
    WebhookSubscriptionWithSecret,
)
from cloud_api.core.errors import DomainError
from cloud_api.integrations.clients import may_serve_school
from cloud_api.integrations.webhooks.receivers import ReceiverPolicy
from cloud_api.integrations.webhooks.subscriptions import (
    SCOPE_OF,
    Subscription,
    list_subscriptions,
    pause,
    remove,
    resume,
    rotate_secret,
    subscribe,
)

__all__ = ["WEBHOOKS_PATH", "router"]

router = APIRouter(tags=["integrations"])
WEBHOOKS_PATH = "/v1/integrations/webhooks"
_ONE = WEBHOOKS_PATH + "/{school_id}/{subscription_id}"

_GATE = ("api_token_required", "rate_limited")
_CREATE_REFUSALS = refusals(
    *_GATE,
    "scope_not_granted",
    "school_not_served",
    "webhook_url_malformed",
    "webhook_url_not_https",
    "webhook_url_private_address",
    "webhook_url_unresolved",
)
_ONE_REFUSALS = refusals(*_GATE, "webhook_subscription_unknown")


def _actor(call: ApiCall) -> str:
    return f"client:{call.client.client_id}"


def _public(sub: Subscription) -> WebhookSubscriptionPublic:
    return WebhookSubscriptionPublic(
        id=sub.id,
        school_id=sub.school_id,
        url=sub.url,
        kinds=list(sub.kinds),  # type: ignore[arg-type]
        state=sub.state,  # type: ignore[arg-type]
        paused_reason=sub.paused_reason,
        paused_at=sub.paused_at,
        failures=sub.failures,
        last_error=sub.last_error,
        last_delivered_at=sub.last_delivered_at,
        pending=sub.pending,
        oldest_pending_at=sub.oldest_pending_at,
        previous_secret_until=sub.previous_secret_until,
        created_at=sub.created_at,
    )


def _with_secret(sub: Subscription, secret: str) -> WebhookSubscriptionWithSecret:
    return WebhookSubscriptionWithSecret(**_public(sub).model_dump(), secret=secret)


def _own(conn: Connection, call: ApiCall, school_id: str, subscription_id: UUID) -> Subscription:
    """The system's own subscription (with what waits), else 404 as if there were none."""
    for sub in list_subscriptions(conn, client_id=call.client.client_id, school_id=school_id):
        if sub.id == subscription_id:
            call.school_id = school_id  # the journal names the school of a subscription the system has
            return sub
    raise DomainError("webhook_subscription_unknown", f"no webhook subscription {subscription_id} of this system")


SubscriptionId = Annotated[UUID, Path(description="The subscription's id, as its creation answered it.")]


@router.get(WEBHOOKS_PATH, response_model=WebhookSubscriptionsPublic, responses=refusals(*_GATE))
def my_subscriptions(call: ApiClient, engine: EngineDep) -> WebhookSubscriptionsPublic:
    """Every webhook subscription of this system (not removed), oldest first, with what waits (any valid token)."""
    with engine.connect() as conn:
        subs = list_subscriptions(conn, client_id=call.client.client_id)
    call.rows = len(subs)
    return WebhookSubscriptionsPublic(subscriptions=[_public(s) for s in subs])


@router.post(WEBHOOKS_PATH, status_code=201, response_model=WebhookSubscriptionWithSecret, responses=_CREATE_REFUSALS)
def subscribe_myself(
    call: ApiClient, engine: EngineDep, request: Request, body: WebhookSubscriptionCreate
) -> WebhookSubscriptionWithSecret:
    """Subscribe this system to a school's events at its own HTTPS receiver; the secret is shown this once.

    The school must be within the system's reach (403 `school_not_served`) and the token must carry
    the scope of every kind asked (403 `scope_not_granted`): `entry` and `exit` attendance:read,
    `meal` meals:read, `roster` roster:read. Webhooks are signed by the Standard Webhooks scheme with
    the secret, and only about students whose guardian's consent is in force.
    """
    call.school_id = body.school_id
    with engine.begin() as conn:
        if not may_serve_school(conn, call.client, body.school_id):
            raise refused_call("school_not_served", request, call)
        if not {SCOPE_OF[kind] for kind in body.kinds} <= call.scopes:
            raise refused_call("scope_not_granted", request, call)
        sub, secret = subscribe(
            conn,
            client_id=call.client.client_id,
            school_id=body.school_id,
            url=body.url,
            kinds=body.kinds,
            actor=_actor(call),
            now=call.now,
            policy=ReceiverPolicy(development=request.app.state.settings.environment == "development"),
        )
    call.rows = 1
    return _with_secret(sub, secret)


@router.get(_ONE, response_model=WebhookSubscriptionPublic, responses=_ONE_REFUSALS)
def my_subscription(
    call: ApiClient, engine: EngineDep, school_id: SchoolPath, subscription_id: SubscriptionId
) -> WebhookSubscriptionPublic:
    """One subscription of this system: its state, why it is paused, what waits."""
    with engine.connect() as conn:
        sub = _own(conn, call, school_id, subscription_id)
    call.rows = 1
    return _public(sub)


@router.delete(_ONE, status_code=204, response_class=Response, responses=_ONE_REFUSALS)
def unsubscribe_myself(
    call: ApiClient, engine: EngineDep, school_id: SchoolPath, subscription_id: SubscriptionId
) -> Response:
    """Remove the subscription: nothing more is queued or sent, the webhooks waiting are dropped."""
    with engine.begin() as conn:
        _own(conn, call, school_id, subscription_id)
        remove(conn, school_id, subscription_id, actor=_actor(call), now=call.now)
    return Response(status_code=204)


@router.post(_ONE + "/rotate", response_model=WebhookSubscriptionWithSecret, responses=_ONE_REFUSALS)
def rotate_my_secret(
    call: ApiClient, engine: EngineDep, school_id: SchoolPath, subscription_id: SubscriptionId
) -> WebhookSubscriptionWithSecret:
    """A new secret, shown this once; until `previous_secret_until` (a day) every webhook carries a
    signature by the previous secret too, so the receiver can switch without losing one."""
    with engine.begin() as conn:
        _own(conn, call, school_id, subscription_id)
        secret = rotate_secret(conn, school_id, subscription_id, actor=_actor(call), now=call.now)
        sub = _own(conn, call, school_id, subscription_id)
    call.rows = 1
    return _with_secret(sub, secret)


@router.post(_ONE + "/pause", response_model=WebhookSubscriptionPublic, responses=_ONE_REFUSALS)
def pause_mine(
    call: ApiClient, engine: EngineDep, school_id: SchoolPath, subscription_id: SubscriptionId
) -> WebhookSubscriptionPublic:
    """Stop delivering: webhooks go on being queued and are sent in order after a resume (idempotent)."""
    with engine.begin() as conn:
        _own(conn, call, school_id, subscription_id)
        pause(conn, school_id, subscription_id, actor=_actor(call), now=call.now, reason="by_client")
        sub = _own(conn, call, school_id, subscription_id)
    call.rows = 1
    return _public(sub)


@router.post(_ONE + "/resume", response_model=WebhookSubscriptionPublic, responses=_ONE_REFUSALS)
def resume_mine(
    call: ApiClient,
    engine: EngineDep,
    request: Request,
    school_id: SchoolPath,
    subscription_id: SubscriptionId,
) -> WebhookSubscriptionPublic:
    """Deliver again from now, the oldest waiting webhook first, whoever paused it (the worker after a
    day of failures too); idempotent."""
    with engine.begin() as conn:
        _own(conn, call, school_id, subscription_id)
        resume(conn, school_id, subscription_id, actor=_actor(call), now=call.now)
        sub = _own(conn, call, school_id, subscription_id)
    request.app.state.background.wake("webhooks")
    call.rows = 1
    return _public(sub)
