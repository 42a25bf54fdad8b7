"""The school office in the browser (``/office/``): one module a task, all built on :mod:`.console`."""

from fastapi import APIRouter

from cloud_api.web.office import (
    accounts,
    authority,
    canteen,
    cards,
    consent,
    deployment,
    export,
    journal,
    language,
    people,
    reports,
    roster,
    today,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for part in (
    language,
    today,
    canteen,
    people,
    cards,
    consent,
    roster,
    accounts,
    journal,
    reports,
    export,
    authority,
    deployment,
):
    router.include_router(part.router)
