"""The office's plain words for outside systems: what each scope and claim lets a system do, and how a call ended."""

from __future__ import annotations

from shared.i18n import Translator

__all__ = ["IntegrationWords"]


class IntegrationWords:
    """Names of the registry's codes in the reader's language (each a dict code → words)."""

    def __init__(self, _: Translator) -> None:
        # What a system may read through the API, as a region's official reads it.
        self.scope = {
            "attendance:read": _("See when students come to school and leave"),
            "meals:read": _("See the meals students were served"),
            "roster:read": _("See the list of students: name and class"),
        }
        self.scope_short = {
            "attendance:read": _("attendance"),
            "meals:read": _("meals"),
            "roster:read": _("list of students"),
        }
        # What a platform may learn of a student who signs in with Mektep.
        self.claim = {
            "name": _("The name of the student"),
            "school": _("The school"),
            "class": _("The class"),
            "role": _("Whether a student or a staff member"),
            "locale": _("The language chosen"),
        }
        # What a journalled call asked for, by the last part of its address.
        self.asked = {
            "token": _("a new access key"),
            "schools": _("the list of its schools"),
            "attendance": _("attendance"),
            "meals": _("meals"),
            "roster": _("list of students"),
        }
        self.outcome = {
            "": _("Answered"),
            "api_token_required": _("Refused: no valid access key"),
            "scope_not_granted": _("Refused: not allowed to read this"),
            "school_not_served": _("Refused: a school it may not read"),
            "rate_limited": _("Refused: too many requests this minute"),
            "invalid_client": _("Refused: wrong secret or revoked"),
            "invalid_scope": _("Refused: asked for more than it may read"),
            "invalid_request": _("Refused: a malformed request"),
            "unsupported_grant_type": _("Refused: a malformed request"),
            "unauthorized_client": _("Refused: not allowed to read anything"),
        }

    def asked_by(self, path: str) -> str:
        """What a call at ``path`` asked for, in words."""
        return self.asked.get(path.rstrip("/").rsplit("/", 1)[-1], path)

    def outcome_of(self, code: str | None) -> str:
        """How a call ended, in words."""
        return self.outcome.get(code or "", self.outcome["invalid_request"])
