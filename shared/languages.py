"""The languages Mektep Gate speaks (Kazakh, Russian, English), and how a request names its language."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Language", "language_of"]

Language = Literal["kk", "ru", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "kk"


def language_of(accept_language: str | None) -> Language:
    """The first language of an ``Accept-Language`` header that we speak, else the default (Kazakh).

    ``ru-RU,ru;q=0.9,en;q=0.8`` gives ``ru``; a header naming only languages we do not speak, or
    none, gives Kazakh, the state language.
    """
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip()[:2].lower()
        if tag in LANGUAGES:
            return tag  # type: ignore[return-value]
    return DEFAULT_LANGUAGE
