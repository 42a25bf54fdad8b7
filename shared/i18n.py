"""User-facing text in Kazakh, Russian and English, from Babel ``.po`` catalogs.

Catalogs live in ``shared/locale/<lang>/LC_MESSAGES/messages.po`` and are read with Babel at
start-up (no compile step to forget). Code marks text with ``_("…")`` of a :class:`Translator`;
a message missing from a catalog falls back to the English source text, and a test checks that
every catalog has every message.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from shared.languages import DEFAULT_LANGUAGE, LANGUAGES, Language

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Language", "Translator", "catalog_messages", "translator"]

LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def catalog_messages(language: Language) -> dict[str, str]:
    """msgid → translated text for one language (untranslated entries left out)."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


class Translator:
    """Translates messages into one language."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._messages = catalog_messages(language)

    def __call__(self, message: str, **values: object) -> str:
        """The message in this language, with ``{name}`` placeholders filled from ``values``."""
        text = self._messages.get(message, message)
        return text.format(**values) if values else text


def translator(language: str | None) -> Translator:
    """A translator for ``language``, or for the default language if it is not one we speak."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return Translator(lang)  # type: ignore[arg-type]
