"""The names the canteen screen shows: first name and last initial, lengthened only to tell two people apart."""

from __future__ import annotations

from cloud_api.roster.display_names import MAX_CHARS, FullName, confusable, display_names, short_name


def test_a_name_nobody_shares_stays_first_name_and_last_initial() -> None:
    names = {1: FullName("Әлия", "Нұрланова"), 2: FullName("Марат", "Сейітов"), 3: FullName("Дана", "А")}
    assert display_names(names) == {1: "Әлия Н.", 2: "Марат С.", 3: "Дана А."}


def test_two_staff_with_the_same_initials_get_as_much_of_the_last_name_as_tells_them_apart() -> None:
    names = {
        "a": FullName("Мұғалім", "Учитель0"),
        "b": FullName("Мұғалім", "Учитель1"),
        "c": FullName("Мұғалім", "Уәлиев"),
        "d": FullName("Асан", "Уәлиев"),  # another first name: nobody takes him for them
    }
    assert display_names(names) == {
        "a": "Мұғалім Учитель0",
        "b": "Мұғалім Учитель1",
        "c": "Мұғалім Уә.",
        "d": "Асан У.",
    }


def test_the_same_last_name_is_told_apart_by_the_middle_name() -> None:
    names = {
        1: FullName("Айгерім", "Нұрланова", "Серікқызы"),
        2: FullName("Айгерім", "Нұрланова", "Болатқызы"),
        3: FullName("Айгерім", "Нұрланова", "Болатовна"),
        4: FullName("Айгерім", "Нұрбекова"),
    }
    assert display_names(names) == {
        1: "Айгерім С. Нұрланова",
        2: "Айгерім Болатқызы Нұрланова",
        3: "Айгерім Болатовна Нұрланова",
        4: "Айгерім Нұрб.",
    }


def test_namesakes_in_full_are_numbered_in_a_stable_order() -> None:
    names = {"b": FullName("Ерлан", "Ахметов"), "a": FullName("Ерлан", "Ахметов"), "c": FullName("Ерлан", "Әбенов")}
    assert display_names(names) == {"a": "Ерлан Ахметов (1)", "b": "Ерлан Ахметов (2)", "c": "Ерлан Ә."}


def test_no_name_is_longer_than_the_roster_holds() -> None:
    long = "Ж" * 100
    names = display_names({1: FullName(long, long + "а", long), 2: FullName(long, long + "б", long)})
    assert len(set(names.values())) == 2 and all(len(n) <= MAX_CHARS for n in names.values())


def test_only_the_same_role_and_for_students_the_same_class_are_confusable() -> None:
    aliya = FullName("Әлия", "Нұрланова")
    assert short_name(aliya) == "Әлия Н."
    assert confusable("student", "3Б", aliya) != confusable("student", "4А", aliya)  # the screen shows the class
    assert confusable("staff", "3Б", aliya) == confusable("staff", None, aliya)  # a teacher's class is not shown
    assert confusable("staff", None, aliya) != confusable("student", None, aliya)
