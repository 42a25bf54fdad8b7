"""How the canteen screen and the gateway name a person: short, and never the same for two people.

A name is first name and last initial ("Әлия Н."): enough for the canteen staff's look at a
child, and no more of the name than that leaves the cloud. Two people who would read the same
are told apart by lengthening both, a step at a time, until they differ: more letters of the last
name ("Мұғалім Уә.", "Мұғалім Ул."), then the whole last name, then the middle name's initial, then
the whole middle name. Namesakes in full are numbered, in the order of their keys.

Only people who would be confused need telling apart, so the caller says who they are by the key
of :func:`confusable`: the same role, and for students the same class (the screen shows the class
beside a child's name, so two "Әлия Н." in 3Б and 4А are told apart already).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["MAX_CHARS", "FullName", "confusable", "display_names", "short_name"]

MAX_CHARS = 120  # what the roster contract's display_name holds
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class FullName:
    """A person's name as the roster holds it."""

    first: str
    last: str
    middle: str | None = None


def confusable(role: str, class_name: str | None, name: FullName) -> tuple[str, str | None, str]:
    """Who might be taken for whom: the same role, class (students only) and short name."""
    return role, class_name if role == "student" else None, short_name(name)


def short_name(name: FullName) -> str:
    """First name and last initial: the name of anyone nobody else would be taken for."""
    return _forms(name)[0]


def _forms(name: FullName) -> list[str]:
    """The name from shortest to longest, each form longer than the one before."""
    first, last, middle = name.first.strip(), name.last.strip(), (name.middle or "").strip()
    forms = [f"{first} {last[:1]}."] + [f"{first} {last[:n]}." for n in range(2, len(last))]
    if len(last) > 1:
        forms.append(f"{first} {last}")
    if middle:
        forms += [f"{first} {middle[:1]}. {last}", f"{first} {middle} {last}"]
    # The shortest always, however long: the roster holds it already today.
    return forms[:1] + [f for f in forms[1:] if len(f) <= MAX_CHARS]


def display_names(people: Mapping[K, FullName]) -> dict[K, str]:
    """A name for each of ``people`` (who might be taken for one another), no two the same."""
    forms = {key: _forms(name) for key, name in people.items()}
    step = dict.fromkeys(people, 0)
    # Every round lengthens everyone still sharing a name with someone; a round that lengthens no
    # one ends it (each name has a longest form, so it ends).
    while True:
        lengthened = False
        for same in _sharing(forms, step):
            for key in same:
                if step[key] < len(forms[key]) - 1:
                    step[key] += 1
                    lengthened = True
        if not lengthened:
            break
    names = {key: forms[key][step[key]] for key in people}
    for same in _sharing(forms, step):  # namesakes in full
        for n, key in enumerate(sorted(same, key=str), start=1):
            suffix = f" ({n})"
            names[key] = names[key][: MAX_CHARS - len(suffix)] + suffix
    return names


def _sharing(forms: Mapping[K, list[str]], step: Mapping[K, int]) -> list[list[K]]:
    """The groups of two or more whose current forms read the same."""
    reading: defaultdict[str, list[K]] = defaultdict(list)
    for key, at in step.items():
        reading[forms[key][at]].append(key)
    return [keys for keys in reading.values() if len(keys) > 1]
