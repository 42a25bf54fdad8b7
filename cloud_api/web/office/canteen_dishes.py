"""The canteen's dishes in the office (the administrator and the canteen's staff).

    GET  /office/schools/{school}/canteen/dishes                  every dish: photo, names, category, price, allergens
    GET  /office/schools/{school}/canteen/dishes/new              the form of a new dish
    POST /office/schools/{school}/canteen/dishes/new
    GET  /office/schools/{school}/canteen/dishes/{id}             a dish: its form, photo and price history
    POST /office/schools/{school}/canteen/dishes/{id}             new names, price, category or allergens
    POST /office/schools/{school}/canteen/dishes/{id}/photo       a photo (JPEG, PNG, WebP), cut square where chosen
    POST /office/schools/{school}/canteen/dishes/{id}/photo/crop  the photo in force cut square anew

Crop works without JavaScript: the form names where the square sits and Pillow cuts it before the
photo is encoded anew (:func:`~cloud_api.services.photo_reencode.reencode_photo`); office.js only
shows a preview of the chosen file with that square.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import anyio
import uuid_utils
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud_api.api.deps import require_same_origin
from cloud_api.api.uploads import read_upload
from cloud_api.core.errors import DomainError
from cloud_api.core.formulas import starts_like_a_formula
from cloud_api.core.metrics import PHOTOS_REFUSED
from cloud_api.services import photos
from cloud_api.services.accounts import logins_of
from cloud_api.services.menus import current_dishes, dish_history, dish_of, set_dish_photo, upsert_dish
from cloud_api.services.photo_reencode import CROPS
from cloud_api.web.office.amounts import typed_tenge
from cloud_api.web.office.canteen_forms import canteen_page
from cloud_api.web.office.console import Desk, FormErrors, StaffDesk, back
from shared.languages import LANGUAGES
from shared.roster_contract import Allergen, Dish, DishCategory

__all__ = ["dish_name", "price_refused", "refused_status", "router"]

router = APIRouter(include_in_schema=False)
_checked = [Depends(require_same_origin)]
_DECODERS = anyio.CapacityLimiter(2)  # photos decoded at once (up to 100 MB each, decoded)
Text = Annotated[str, Form(max_length=200)]


def dish_name(item: Dish, lang: str) -> str:
    """A dish's name in the reader's language, else in Russian, else in the one it has."""
    return item.names.get(lang) or item.names.get("ru") or next(iter(item.names.values()))  # type: ignore[call-overload]


@router.get("/office/schools/{school_id}/canteen/dishes", response_class=HTMLResponse)
def dishes_page(desk: StaffDesk) -> HTMLResponse:
    """The school's dishes, by category then name."""
    lang = desk._.language
    with desk.engine.connect() as conn:
        found = current_dishes(conn, desk.school_id)
    order = list(DishCategory)
    found.sort(key=lambda d: (order.index(d.category), dish_name(d, lang).lower()))
    return canteen_page(desk, "office/canteen_dishes.html", title=desk._("Dishes"), dishes=found, dish_name=dish_name)


def _form_of(item: Dish | None) -> dict[str, Any]:
    if item is None:
        return {"category": "main", "allergens": []}
    price = f"{item.price_tiyn // 100}" + (f",{item.price_tiyn % 100:02d}" if item.price_tiyn % 100 else "")
    form: dict[str, Any] = {f"name_{k}": v for k, v in item.names.items()}
    return form | {"price": price, "category": item.category.value, "allergens": [a.value for a in item.allergens]}


def _dish_page(
    desk: Desk,
    dish_id: UUID | None,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    item = None
    history: list[dict[str, Any]] = []
    if dish_id is not None:
        with desk.engine.connect() as conn:
            item = dish_of(conn, desk.school_id, dish_id)
            if item is None:
                raise DomainError("unknown_dish")
            # A new photo or name is a version too; the price history shows when the price changed.
            every = dish_history(conn, desk.school_id, dish_id)
            history = [h for i, h in enumerate(every) if i == 0 or h["price_tiyn"] != every[i - 1]["price_tiyn"]]
            # Who changed a price is the administrator's to read: the canteen's staff see when and what.
            logins = logins_of(conn, _account_ids(h["actor"] for h in history)) if desk.admin else {}
        for h in history:
            h["who"] = _who(h["actor"], logins) if desk.admin else ""
    title = dish_name(item, desk._.language) if item else desk._("A new dish")
    return canteen_page(
        desk,
        "office/canteen_dish.html",
        title=title,
        status=status,
        dish=item,
        history=list(reversed(history)),
        form=form if form is not None else _form_of(item),
        errors=errors or FormErrors(),
        categories=list(DishCategory),
        allergens=list(Allergen),
        crops=CROPS,
        languages=LANGUAGES,
    )


def _account_ids(actors: Any) -> list[UUID]:
    found = []
    for actor in actors:
        if actor.startswith("account:"):
            try:
                found.append(UUID(actor.removeprefix("account:")))
            except ValueError:
                continue
    return found


def _who(actor: str, logins: dict[UUID, str]) -> str:
    if actor.startswith("account:"):
        try:
            return logins.get(UUID(actor.removeprefix("account:")), actor)
        except ValueError:
            return actor
    return actor


@router.get("/office/schools/{school_id}/canteen/dishes/new", response_class=HTMLResponse)
def new_dish_page(desk: StaffDesk) -> HTMLResponse:
    """The form of a new dish."""
    return _dish_page(desk, None)


@router.get("/office/schools/{school_id}/canteen/dishes/{dish_id}", response_class=HTMLResponse)
def dish_page(desk: StaffDesk, dish_id: UUID) -> HTMLResponse:
    """A dish: its form, its photo and what it cost when."""
    return _dish_page(desk, dish_id)


def read_dish(
    desk: Desk, form: dict[str, Any], current: Dish | None = None
) -> tuple[dict[str, Any] | None, FormErrors]:
    """A dish's fields from its form (names, price in tiyn, category, allergens), or what is wrong with them.

    Only the school's administrator sets a price: the canteen's staff see it and keep it (a new dish of
    theirs costs nothing until the administrator prices it); a price they post that differs is refused.
    """
    _ = desk._
    errors = FormErrors()
    names = {lang: form.get(f"name_{lang}", "").strip() for lang in LANGUAGES}
    names = {k: v for k, v in names.items() if v}
    for lang, name in names.items():
        if len(name) > 120:
            errors.add(f"name_{lang}", _("A name is at most 120 characters."))
        elif starts_like_a_formula(name):
            errors.add(f"name_{lang}", _("A name may not begin with =, +, - or @."))
    if not names:
        errors.add(f"name_{desk._.language}", _("Give the dish a name in at least one language."))
    price: int | None
    if desk.admin:
        price = typed_tenge(form.get("price", ""))
        if price is None:
            errors.add("price", _("Give the price in tenge, like 700 or 700,50."))
    else:
        price = current.price_tiyn if current else 0
        typed = form.get("price", "").strip()
        if typed and typed_tenge(typed) != price:
            errors.add("price", price_refused(_))
    category = form.get("category", "")
    if category not in DishCategory.__members__.values():
        errors.add("category", _("Choose the kind of dish."))
    allergens = form.get("allergens", [])
    if any(a not in Allergen.__members__.values() for a in allergens):
        errors.add("allergens", _("Choose allergens from the list."))
    if errors:
        return None, errors
    fields = {
        "names": names,
        "price_tiyn": price,
        "category": DishCategory(category),
        "allergens": [Allergen(a) for a in Allergen if a.value in allergens],
    }
    return fields, errors


def price_refused(_: Any) -> str:
    """What a cook reads when a price they sent is refused."""
    return str(_("Only the school administrator sets prices."))


def refused_status(desk: Desk, errors: FormErrors) -> int:
    """403 when the canteen's staff sent a price (only a forged form does), else 422."""
    return 403 if not desk.admin and "price" in errors.by_field else 422


def _typed(name_kk: str, name_ru: str, name_en: str, price: str, category: str, allergens: list[str]) -> dict[str, Any]:
    return {
        "name_kk": name_kk,
        "name_ru": name_ru,
        "name_en": name_en,
        "price": price,
        "category": category,
        "allergens": allergens[:20],
    }


@router.post("/office/schools/{school_id}/canteen/dishes/new", dependencies=_checked, response_model=None)
def new_dish_form(
    desk: StaffDesk,
    name_kk: Text = "",
    name_ru: Text = "",
    name_en: Text = "",
    price: Annotated[str, Form(max_length=40)] = "",
    category: Annotated[str, Form(max_length=20)] = "main",
    allergens: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default
) -> Response:
    """Add a dish; on to its page, where its photo is uploaded."""
    form = _typed(name_kk, name_ru, name_en, price, category, allergens)
    fields, errors = read_dish(desk, form)
    if fields is None:
        return _dish_page(desk, None, form, errors, refused_status(desk, errors))
    made = Dish(id=UUID(str(uuid_utils.uuid7())), **fields)
    with desk.engine.begin() as conn:
        upsert_dish(conn, desk.school_id, made, actor=desk.actor)
    return back(f"{desk.base}/canteen/dishes/{made.id}?done=dish_saved")


@router.post("/office/schools/{school_id}/canteen/dishes/{dish_id}", dependencies=_checked, response_model=None)
def dish_form(
    desk: StaffDesk,
    dish_id: UUID,
    name_kk: Text = "",
    name_ru: Text = "",
    name_en: Text = "",
    price: Annotated[str, Form(max_length=40)] = "",
    category: Annotated[str, Form(max_length=20)] = "main",
    allergens: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default
) -> Response:
    """New names, price, category or allergens; the photo stays, and the old version stays in the history."""
    form = _typed(name_kk, name_ru, name_en, price, category, allergens)
    with desk.engine.begin() as conn:
        current = dish_of(conn, desk.school_id, dish_id)
        if current is None:
            raise DomainError("unknown_dish")
        # Read against the dish as it is in this transaction: a cook's save keeps the price in force.
        fields, errors = read_dish(desk, form, current)
        if fields is not None:
            upsert_dish(conn, desk.school_id, current.model_copy(update=fields), actor=desk.actor)
    if fields is None:
        return _dish_page(desk, dish_id, form, errors, refused_status(desk, errors))
    return back(f"{desk.base}/canteen/dishes/{dish_id}?done=dish_saved")


@router.post("/office/schools/{school_id}/canteen/dishes/{dish_id}/photo", dependencies=_checked, response_model=None)
async def dish_photo_form(desk: StaffDesk, dish_id: UUID) -> Response:
    """A photo for the dish, cut square where chosen (or kept whole), re-encoded without metadata."""
    others: dict[str, str] = {}
    try:
        _name, data = await read_upload(desk.request, "photo", photos.MAX_PHOTO_BYTES, others)
        crop = others.get("crop", "center")
        image = await anyio.to_thread.run_sync(
            photos.reencode_photo, data, crop if crop in CROPS else None, limiter=_DECODERS
        )
    except DomainError as refused:
        PHOTOS_REFUSED.labels(refused.code).inc()
        errors = FormErrors()
        said = desk._(refused.code) if refused.code != "file_required" else desk._("Choose a photo first.")
        errors.add("photo_file", said)
        return await run_in_threadpool(_dish_page, desk, dish_id, None, errors, 422)
    await run_in_threadpool(_set_photo, desk, dish_id, image)
    return back(f"{desk.base}/canteen/dishes/{dish_id}?done=photo_saved#photo")


@router.post(
    "/office/schools/{school_id}/canteen/dishes/{dish_id}/photo/crop", dependencies=_checked, response_model=None
)
async def dish_crop_form(desk: StaffDesk, dish_id: UUID, crop: Annotated[str, Form(max_length=20)] = "") -> Response:
    """The photo in force cut square anew (at the centre, top, bottom, left or right)."""
    errors = FormErrors()
    stored = await run_in_threadpool(_stored_photo, desk, dish_id)
    if crop not in CROPS:
        errors.add("crop", desk._("Choose where the square sits."))
    elif stored is None:
        errors.add("photo_file", desk._("Choose a photo first."))
    if errors or stored is None:
        return await run_in_threadpool(_dish_page, desk, dish_id, None, errors, 422)
    image = await anyio.to_thread.run_sync(photos.reencode_photo, stored, crop, limiter=_DECODERS)
    await run_in_threadpool(_set_photo, desk, dish_id, image)
    return back(f"{desk.base}/canteen/dishes/{dish_id}?done=photo_saved#photo")


def _stored_photo(desk: Desk, dish_id: UUID) -> bytes | None:
    with desk.engine.connect() as conn:
        item = dish_of(conn, desk.school_id, dish_id)
        if item is None:
            raise DomainError("unknown_dish")
        if not item.photo_url:
            return None
        found = photos.photo(conn, item.photo_url.rsplit("/", 1)[-1])
    return None if found is None or found.school_id != desk.school_id else found.data


def _set_photo(desk: Desk, dish_id: UUID, image: photos.Reencoded) -> None:
    with desk.engine.begin() as conn:
        set_dish_photo(conn, desk.school_id, dish_id, image, actor=desk.actor)
