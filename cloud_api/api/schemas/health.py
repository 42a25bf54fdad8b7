"""What ``/healthz`` answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Health"]


class Health(BaseModel):
    """The answer of ``/healthz``."""

    status: Literal["ok", "error"]
    database: str = Field(description="'ok', or the class of the error the database raised.")
