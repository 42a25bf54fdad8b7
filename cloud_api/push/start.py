"""The push worker of one API process, made for the app's lifespan to hand to the background supervisor."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine

from cloud_api.background.http import client
from cloud_api.push.endpoints import endpoint_policy
from cloud_api.push.keys import ensure_vapid_key, load_vapid_key
from cloud_api.push.sender import PushSender
from cloud_api.push.worker import PushWorker
from cloud_api.settings import CloudSettings

__all__ = ["push_worker"]

log = logging.getLogger(__name__)


def push_worker(engine: Engine, settings: CloudSettings) -> PushWorker | None:
    """The push worker, or None when this process sends no pushes (``push_workers`` is 0).

    In development the VAPID key is made on first start; in production it must have been made by
    ``mektep cloud init`` (a key made by accident would invalidate every subscription later).
    """
    if settings.push_workers == 0:
        return None
    with engine.begin() as conn:
        if settings.environment == "development":
            ensure_vapid_key(conn)
        key = load_vapid_key(conn)
    if key is None:
        log.warning("no VAPID key: run 'mektep cloud init'; no push notices until then")
        return None
    return PushWorker(
        engine,
        PushSender(
            key,
            settings.vapid_subject,
            client(timeout_s=10.0),
            endpoints=endpoint_policy(settings),
            ttl_s=settings.push_ttl_s,
        ),
        concurrency=4 * settings.push_workers,
        interval_s=settings.push_poll_s,
        late_after=timedelta(seconds=settings.push_late_after_s),
    )
