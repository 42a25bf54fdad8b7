"""The school office in the browser (``/office/``): one module a task, all built on :mod:`.console`."""

from fastapi import APIRouter

from cloud_api.web.office import (
    accounts,
    canteen,
    cards,
    consent,
    export,
    journal,
    language,
    money,
    people,
    reports,
    roster,
    today,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for part in (language, today, canteen, people, cards, consent, roster, accounts, journal, reports, export, money):
    router.include_router(part.router)
