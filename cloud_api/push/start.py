"""Starting the push workers of one API process, from the app's lifespan."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine

from cloud_api.push.keys import ensure_vapid_key, load_vapid_key
from cloud_api.push.sender import PushSender
from cloud_api.push.worker import PushWorkers
from cloud_api.settings import CloudSettings

__all__ = ["start_push"]

log = logging.getLogger(__name__)


def start_push(engine: Engine, settings: CloudSettings) -> PushWorkers | None:
    """Running push workers, or None when this process sends no pushes.

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
    workers = PushWorkers(
        engine,
        lambda: PushSender(key, settings.vapid_subject, ttl_s=settings.push_ttl_s),
        threads=settings.push_workers,
        poll_s=settings.push_poll_s,
        late_after=timedelta(seconds=settings.push_late_after_s),
    )
    workers.start()
    return workers
