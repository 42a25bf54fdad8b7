"""The school office in the browser (``/office/``): one module a task, all built on :mod:`.console`."""

from fastapi import APIRouter

from cloud_api.web.office import (
    accounts,
    alerts,
    authority,
    canteen,
    canteen_dishes,
    canteen_menu,
    canteen_pins_page,
    canteen_rules,
    cards,
    consent,
    deployment,
    export,
    fleet,
    integrations,
    journal,
    language,
    money,
    nedb,
    people,
    ratings,
    reports,
    roster,
    school_day,
    today,
    wallet,
    webhooks,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_CANTEEN = (canteen, canteen_rules, canteen_dishes, canteen_menu, canteen_pins_page)
_SCHOOL = (
    today,
    *_CANTEEN,
    ratings,
    money,
    wallet,
    people,
    cards,
    consent,
    roster,
    accounts,
    journal,
    reports,
    export,
    school_day,
)
for part in (language, *_SCHOOL, nedb, fleet, authority, deployment, alerts, integrations, webhooks):
    router.include_router(part.router)
