"""Photos, by the SHA-256 of their bytes: dishes for everyone, people for their school only.

    GET /v1/photos/{sha256}                                public: a dish's photo (never a person's)
    GET /v1/schools/{school_id}/photos/{sha256}            staff of the school: any photo of it
    PUT /v1/schools/{school_id}/people/{person_id}/photo   school_admin: a person's photo (body: the image)
    DELETE  (same path)                                    school_admin: remove it
    GET /v1/sync/photos/{sha256}                           the school's gateway, signed: any photo of it

An upload is decoded and encoded anew before anything is stored (:func:`read_photo`, shared with
the dish photo's route): what is served is always those bytes, a JPEG without metadata, whatever
was sent. The gateway fetches the photos its roster names and checks each against its hash, so that
the canteen screen shows the child's face and the dishes with no Internet.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import EngineDep, GatewayAuth, SchoolAdmin, SchoolPath, SchoolStaff, read_limited
from cloud_api.api.errors import ingest_error_responses, refusals
from cloud_api.core.errors import DomainError
from cloud_api.core.metrics import PHOTOS_REFUSED
from cloud_api.services import photos
from cloud_api.services.photos import PHOTO_PATH
from shared.roster_contract import PHOTOS_PATH

__all__ = ["UPLOAD_REFUSALS", "read_photo", "router"]

router = APIRouter(tags=["photos"])
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The SHA-256 of the photo's bytes, in hex.")]
_IMMUTABLE = "max-age=31536000, immutable"  # addressed by content: it can never change
# Opened on its own (not in an <img>), a photo is still never a page that runs anything.
_SANDBOX = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
_IMAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The image, re-encoded as a JPEG without metadata when it was uploaded",
        "content": {photos.SERVED_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}
# Photos decoded at once by this process, each on a thread of its own beside the shared pool: a
# 25-megapixel photo takes up to 100 MB decoded, and uploads waiting their turn hold no thread the
# other routes need.
_DECODERS = anyio.CapacityLimiter(2)
# What a photo upload may be refused for (besides its route's own codes).
UPLOAD_REFUSALS = ("photo_too_large", "photo_type", "photo_too_many_pixels", "photo_unreadable")
_BODY = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in photos.CONTENT_TYPES},
    }
}


async def read_photo(request: Request) -> photos.Reencoded:
    """The request body as a photo: at most 2 MiB, decoded and re-encoded off the event loop.

    Every refusal is counted in ``mektep_photos_refused{code}`` and goes on to its answer.
    """
    try:
        data = await read_limited(request, photos.MAX_PHOTO_BYTES, lambda: DomainError("photo_too_large"))
        return await anyio.to_thread.run_sync(photos.reencode_photo, data, limiter=_DECODERS)
    except DomainError as error:
        PHOTOS_REFUSED.labels(error.code).inc()
        raise


def _answer(found: photos.Photo | None, cache: str) -> Response:
    if found is None:
        raise DomainError("not_found")
    return Response(found.data, media_type=found.content_type, headers={"Cache-Control": cache, **_SANDBOX})


@router.get(
    PHOTO_PATH,
    response_class=Response,
    summary="A dish's photo",
    responses={**_IMAGE, **refusals("not_found")},
)
def get_dish_photo(digest: Digest, engine: EngineDep) -> Response:
    """The photo's bytes; public (an <img> in the parent app carries no token), so dishes' only."""
    with engine.connect() as conn:
        found = photos.photo(conn, digest)
    if found is not None and found.kind is not photos.PhotoKind.DISH:
        found = None  # a person's photo is not served here: as if there were none
    return _answer(found, f"public, {_IMMUTABLE}")


@router.get(
    "/v1/schools/{school_id}/photos/{digest}",
    response_class=Response,
    summary="A photo of the school",
    responses={**_IMAGE, **refusals("not_found")},
)
def get_school_photo(school_id: SchoolPath, digest: Digest, _: SchoolStaff, engine: EngineDep) -> Response:
    """Any photo of the school, people's too, for its staff."""
    with engine.connect() as conn:
        found = photos.photo(conn, digest)
    return _answer(found if found is not None and found.school_id == school_id else None, f"private, {_IMMUTABLE}")


@router.put(
    "/v1/schools/{school_id}/people/{person_id}/photo",
    status_code=204,
    summary="Set a person's photo",
    openapi_extra=_BODY,
    responses=refusals("unknown_person", *UPLOAD_REFUSALS),
)
async def put_person_photo(
    school_id: SchoolPath, person_id: UUID, request: Request, principal: SchoolAdmin, engine: EngineDep
) -> Response:
    """The photo the canteen screen shows beside a child's name (JPEG, PNG or WebP, at most 2 MiB and 25
    megapixels); kept as a JPEG of at most 1600 px a side, without EXIF or any other metadata."""
    image = await read_photo(request)
    await run_in_threadpool(_set, engine, school_id, person_id, image, principal.actor)
    return Response(status_code=204)


@router.delete(
    "/v1/schools/{school_id}/people/{person_id}/photo",
    status_code=204,
    summary="Remove a person's photo",
    responses=refusals("unknown_person"),
)
def delete_person_photo(school_id: SchoolPath, person_id: UUID, principal: SchoolAdmin, engine: EngineDep) -> Response:
    """No photo for this person from the gateway's next sync; the change is audited."""
    _set(engine, school_id, person_id, None, principal.actor)
    return Response(status_code=204)


def _set(engine: EngineDep, school_id: str, person_id: UUID, image: photos.Reencoded | None, actor: str) -> None:
    with engine.begin() as conn:
        photos.set_person_photo(conn, school_id, person_id, image, actor=actor)


@router.get(
    PHOTOS_PATH + "/{digest}",
    response_class=Response,
    summary="A photo for the school's gateway",
    responses={**_IMAGE, **refusals("not_found"), **ingest_error_responses(with_body=False)},
)
def get_gateway_photo(digest: Digest, signed: GatewayAuth, engine: EngineDep) -> Response:
    """Signed like the roster pull; only photos of the signing gateway's own school."""
    with engine.connect() as conn:
        found = photos.photo(conn, digest)
    school = signed.gateway.school_id
    return _answer(found if found is not None and found.school_id == school else None, f"private, {_IMMUTABLE}")
