"""The reports' JSON, as models: what ``meals.json``, ``attendance.json``, ``region.json`` and
``country.json`` hold, and their JSON Schema.

The schema is published with each report (``report_schema()``, and ``GET /v1/reports/schema``)
so that a receiver can validate the JSON file without our code.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AttendanceReport", "MealsReport", "RegionReport", "report_schema"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cell(_Strict):
    """One category of meals: students fed, portions, what families paid, what the state owes (tiyn)."""

    students: int = Field(ge=0)
    portions: int = Field(ge=0)
    paid_tiyn: int = Field(ge=0)
    state_tiyn: int = Field(ge=0)


class Categories(_Strict):
    free: Cell
    discounted: Cell
    paid: Cell


class DishOfDay(_Strict):
    names: dict[str, str]
    price_tiyn: int = Field(ge=0)


class MenuOfDay(_Strict):
    period: str
    price_tiyn: int = Field(ge=0, description="The set meal's full price that day.")
    dishes: list[DishOfDay]


class MealDay(_Strict):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    categories: Categories
    menus: list[MenuOfDay]


class MealClass(_Strict):
    class_: str = Field(alias="class")
    categories: Categories


class MonthRating(_Strict):
    """The month's ratings of the canteen (§33-1.8) by students and guardians: hidden comments' stars count."""

    average: float = Field(ge=1, le=5, description="Mean stars, 1 to 5, to two decimals.")
    count: int = Field(ge=1, description="How many ratings.")


class MealsReport(_Strict):
    """Free, discounted and paid meals of one school and month (§33-1.9)."""

    kind: Literal["meals"]
    school_id: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    days: list[MealDay]
    classes: list[MealClass]
    totals: Categories
    rating: MonthRating | None = Field(
        default=None, description="Present only when the month has ratings: their mean and number."
    )


class AttendanceDay(_Strict):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    working_day: bool
    students: int = Field(ge=0)
    staff: int = Field(ge=0)
    anonymous: int = Field(
        ge=0,
        description="Passages (entries and exits) of children without consent: a count, nobody named, the same "
        "child perhaps several times; never among the students present.",
    )
    absent: int = Field(
        ge=0,
        description="Students on the roster that day, working days only, who did not come; each passage without "
        "consent is taken as a child who came, so this is the fewest absent. 0 on a day still to come.",
    )
    future: bool = Field(
        default=False,
        description="Present and true only on a day after the report was built (a month issued before it "
        "ended): the day has not happened, nobody is counted absent.",
    )
    excused: int | None = Field(
        default=None,
        ge=0,
        description="Of the absent, those a guardian reported away (sick, family or other reasons). Present only "
        "in a month with such days, and not on a day still to come.",
    )


class Visit(_Strict):
    date: str
    first_entry: str | None
    last_exit: str | None


class ExcusedDay(_Strict):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    reason: Literal["sick", "family", "other"] = Field(description="The reason the guardian gave.")


class PersonAttendance(_Strict):
    person_id: str
    name: str
    class_: str | None = Field(alias="class")
    days: list[Visit]
    excused: list[ExcusedDay] | None = Field(
        default=None, description="Present only for a student with excused days: each working day reported away."
    )


class AttendanceReport(_Strict):
    """Entries and exits of students and staff of one school and month (§33-1.12)."""

    kind: Literal["attendance"]
    school_id: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    enrolled_students: int = Field(ge=0, description="Students on the roster at the month's end.")
    days: list[AttendanceDay]
    people: list[PersonAttendance] = Field(description="Names and classes as they were at the month's end.")


class RegionDay(_Strict):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    meals: Categories
    students: int = Field(ge=0, description="Students present, summed over the schools.")
    staff: int = Field(ge=0)
    anonymous: int = Field(
        ge=0,
        description="Passages (entries and exits) of children without consent: a count, nobody named, the same "
        "child perhaps several times; never among the students present.",
    )


class RegionSchool(_Strict):
    school_id: str
    name: str
    meals: Categories = Field(description="The month's meals; students are student-days.")
    student_days: int = Field(ge=0)
    staff_days: int = Field(ge=0)
    anonymous: int = Field(ge=0)


class RegionReport(_Strict):
    """A region's month (kind ``region``) or every school's (kind ``country``): sums, nobody named."""

    kind: Literal["region", "country"]
    region_id: str | None = Field(description="None for the country.")
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    days: list[RegionDay]
    schools: list[RegionSchool]
    totals: Categories


def report_schema() -> dict[str, Any]:
    """The JSON Schema of every report file (``oneOf``, told apart by ``kind``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Mektep Gate monthly report",
        "oneOf": [
            MealsReport.model_json_schema(by_alias=True),
            AttendanceReport.model_json_schema(by_alias=True),
            RegionReport.model_json_schema(by_alias=True),
        ],
    }
