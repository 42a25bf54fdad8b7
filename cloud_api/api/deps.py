"""Typed dependencies: a route's signature says what it needs."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import Engine

from cloud_api.settings import CloudSettings

__all__ = ["AdminAuth", "EngineDep", "SettingsDep"]


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _settings(request: Request) -> CloudSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(_engine)]
SettingsDep = Annotated[CloudSettings, Depends(_settings)]


def _admin(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    token = settings.admin_token.get_secret_value()
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})


AdminAuth = Annotated[None, Depends(_admin)]
