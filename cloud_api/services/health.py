"""Whether the database answers: what a load balancer's probe asks of an API process."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["database_problem"]


def database_problem(engine: Engine) -> str | None:
    """None when the database answers ``SELECT 1``; else the class of the error it raised."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The class only (OperationalError…): the message may hold a host name or a user.
        return type(getattr(exc, "orig", None) or exc).__name__
    return None
