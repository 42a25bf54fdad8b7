"""A dish in the reader's language: a canteen names each dish in kk, ru and en (some in one only).

A meal's event carries its dishes as the gateway wrote them, in the child's language (what the
terminal showed). The parent app reads them in the guardian's language instead: each served name
is looked up among every name the school's dishes ever had (a renamed dish keeps its old names),
and written in the reader's language, else Russian, else Kazakh, else as served.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, select

from cloud_api.db.schema import dish_versions

__all__ = ["DishNames", "dish_names", "name_in"]

# After the reader's own: the languages a dish is most often named in (the office's order too).
_FALLBACK = ("ru", "kk", "en")


def name_in(names: Mapping[str, str], language: str | None) -> str:
    """A dish's name in ``language``, else in the first of Russian, Kazakh, English it has."""
    for lang in (language, *_FALLBACK):
        if lang and names.get(lang):
            return names[lang]
    return next(iter(names.values()), "")


class DishNames:
    """Every name a school's dishes ever had, each leading to the dish's names now."""

    def __init__(self, versions: Iterable[tuple[Mapping[str, str], Mapping[str, str]]]) -> None:
        """``versions``: (the names of one version, the dish's names now), oldest version first."""
        # Oldest first: a name that two dishes had leads to the one that had it last.
        self._by_name: dict[str, Mapping[str, str]] = {}
        for names, now in versions:
            for name in names.values():
                self._by_name[name.casefold()] = now

    def of(self, served: str, language: str | None) -> str:
        """The served name ``served`` in ``language`` (as served when no dish had that name)."""
        names = self._by_name.get(served.casefold())
        return served if names is None else name_in(names, language)

    def all_of(self, served: Iterable[str], language: str | None) -> list[str]:
        """:meth:`of` for each of ``served``, in order."""
        return [self.of(name, language) for name in served]


def dish_names(conn: Connection, school_id: str) -> DishNames:
    """The names of every dish the school ever had, to write served dishes in a reader's language."""
    rows = conn.execute(
        select(dish_versions.c.dish_id, dish_versions.c.names)
        .where(dish_versions.c.school_id == school_id)
        .order_by(dish_versions.c.id)
    ).all()
    # A renamed dish: its old names lead to its newest names, not to the version they came from.
    newest = {dish_id: dict(names) for dish_id, names in rows}
    return DishNames((dict(names), newest[dish_id]) for dish_id, names in rows)
