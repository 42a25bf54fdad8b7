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
    people,
    ratings,
    reports,
    roster,
    today,
    wallet,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PARTS = (language, today, canteen, ratings, wallet, people, cards, consent, roster, accounts, journal, reports, export)
for part in PARTS:
    router.include_router(part.router)
