"""The one error the roster services raise on purpose: a change that cannot be made, with a stable code."""

from __future__ import annotations

__all__ = ["RosterError"]


class RosterError(ValueError):
    """A roster change that cannot be made; ``code`` is stable and shown to people translated."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
