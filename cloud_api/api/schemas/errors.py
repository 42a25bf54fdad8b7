"""The body of every error the API answers: a stable code, a message in the caller's language, the fields."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ErrorDetail", "ErrorResponse", "FieldError"]


class FieldError(BaseModel):
    """One field of a request that does not match the contract."""

    field: str = Field(examples=["events.3.occurred_at"])
    message: str = Field(examples=["Input should have timezone info"])


class ErrorDetail(BaseModel):
    """Why a request was refused: a stable ``code`` to act on, a ``message`` for people."""

    code: str = Field(examples=["bad_signature"])
    message: str
    errors: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    """The body of every error the API answers, whatever its status."""

    detail: ErrorDetail
