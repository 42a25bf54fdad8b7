"""User-facing text in Kazakh, Russian and English, from Babel ``.po`` catalogs, and the one place where
money, dates, times and counted nouns are written for people.

Catalogs live in ``shared/locale/<lang>/LC_MESSAGES/messages.po`` and are read with Babel at start-up
(no compile step to forget). Code marks text with ``_("…")`` of a :class:`Translator`; a message
missing from a catalog falls back to the English source text, and a test checks that every catalog
has every message. The wording follows the project's glossary (the regulation's Kazakh where it
names the thing); a test keeps the glossary's "avoid" variants out of the catalogs.

The same translator writes what is not words (CLDR data through Babel, the user's language):

    _.money(125050)          "1 250,50 ₸"   (tiyn; the tiyn shown only when not zero)
    _.date(day)              "03.03.2025"   (dd.MM.yyyy in every language, as Kazakhstan writes it)
    _.time(at)               "08:05"        (24-hour, the school's local time)
    _.month(day)             "наурыз 2025"  (a month in words, standalone form)
    _.plural("{n} change", "{n} changes", n)   "3 изменения", "5 изменений" (the catalog's plural forms)
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from datetime import date, datetime, time
from functools import cache
from pathlib import Path

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from shared.languages import DEFAULT_LANGUAGE, LANGUAGES, Language

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "Language",
    "Translator",
    "catalog_messages",
    "catalog_plurals",
    "translator",
]

LOCALE_DIR = Path(__file__).parent / "locale"
# How each language calls itself, as a language switch shows it.
LANGUAGE_NAMES: dict[Language, str] = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def _catalog(language: Language):  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=language)


@cache
def catalog_messages(language: Language) -> dict[str, str]:
    """msgid → translated text for one language (untranslated and plural entries left out)."""
    return {str(m.id): str(m.string) for m in _catalog(language) if m.id and m.string and not m.pluralizable}


@cache
def catalog_plurals(language: Language) -> dict[str, tuple[str, ...]]:
    """singular msgid → the language's plural forms of it, in the order of its ``Plural-Forms`` rule."""
    found: dict[str, tuple[str, ...]] = {}
    for message in _catalog(language):
        if message.pluralizable and all(message.string):
            found[str(message.id[0])] = tuple(str(s) for s in message.string)
    return found


@cache
def _plural_rule(language: Language) -> Callable[[int], int]:
    # The catalog's own header (``Plural-Forms: nplurals=3; plural=(n%10==1 && …)``), as gettext reads it.
    expression = _catalog(language).plural_expr
    return gettext.c2py(expression)


class Translator:
    """Translates messages into one language, and writes money, dates and counts in it."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._messages = catalog_messages(language)

    def __call__(self, message: str, **values: object) -> str:
        """The message in this language, with ``{name}`` placeholders filled from ``values``."""
        text = self._messages.get(message, message)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, n: int, **values: object) -> str:
        """``singular`` or ``plural`` as the language counts ``n`` (``{n}`` is filled in, with ``values``)."""
        forms = catalog_plurals(self.language).get(singular)
        text = forms[min(_plural_rule(self.language)(n), len(forms) - 1)] if forms else (singular if n == 1 else plural)
        return text.format(n=n, **values)

    def money(self, tiyn: int) -> str:
        """An amount in tenge: ``1 250 ₸``, or ``1 250,50 ₸`` when it has tiyn (grouping and decimal
        sign the language's)."""
        pattern = "#,##0" if tiyn % 100 == 0 else "#,##0.00"
        return f"{format_decimal(tiyn / 100, pattern, locale=self.language)}\u00a0₸"

    def date(self, day: date | datetime) -> str:
        """A day as Kazakhstan writes it in every language: ``03.03.2025``."""
        return format_date(day, "dd.MM.yyyy", locale=self.language)

    def time(self, at: time | datetime) -> str:
        """A local time of day, 24-hour: ``08:05``."""
        return at.strftime("%H:%M")

    def month(self, day: date | datetime) -> str:
        """A month in words, as a sentence says it: ``наурыз 2025``, ``март 2025``, ``March 2025``."""
        text = format_date(day, "LLLL y", locale=self.language)
        # English capitalises its months; Kazakh and Russian do not, whatever CLDR's standalone form says.
        return text if self.language == "en" else text[:1].lower() + text[1:]


def translator(language: str | None) -> Translator:
    """A translator for ``language``, or for the default language if it is not one we speak."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return Translator(lang)  # type: ignore[arg-type]
