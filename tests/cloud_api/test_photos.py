"""Photos as the cloud keeps them: decoded within a pixel bound and encoded anew, never served as sent.

An image header followed by HTML, a few bytes declaring 50,000 × 50,000 pixels, a damaged file:
each is refused with its reason in the caller's language. A phone's photo comes back upright,
without its GPS position or any other metadata, and what is served is exactly what is stored.
Photos stored by an earlier version are re-encoded (or removed) by migration 0018.
"""

from __future__ import annotations

import hashlib
import io
import struct
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from PIL import ExifTags, Image, ImageCms, ImageFile
from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import alembic_config, upgrade
from cloud_api.db.schema import dish_versions, person_photos, photos, roster_versions
from cloud_api.services.audit import audit_entries
from cloud_api.services.menus import current_dishes
from cloud_api.services.photos import person_photos_of, photo
from tests.cloud_api.school import CHILD, World

HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A well-formed PNG (right CRCs) whose header declares ``width`` × ``height`` RGB pixels, with a tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    first_rows = zlib.compress(b"\0" * (1 + 3 * min(width, 4096)) * 4)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", first_rows) + _chunk(b"IEND", b"")


def phone_photo() -> bytes:
    """A JPEG as a phone writes it: lying on its side (EXIF orientation 6), with GPS, make, ICC, XMP, a comment.

    Stored left half red, right half blue: upright, red is on top.
    """
    image = Image.new("RGB", (2400, 1200), (255, 0, 0))
    image.paste((0, 0, 255), (1200, 0, 2400, 1200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (43.0, 15.0, 30.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (76.0, 53.0, 45.0),
        }
    )
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, icc_profile=icc, xmp=b"<x:xmpmeta>home</x:xmpmeta>", comment=HTML)
    return out.getvalue()


def encoded(fmt: str, size: tuple[int, int] = (64, 48), **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 30)).save(out, fmt, **options)
    return out.getvalue()


def cut_short() -> bytes:
    """A real JPEG whose last part never arrived: its header is sound, its pixels are not all there."""
    out = io.BytesIO()
    Image.effect_noise((256, 256), 60).convert("RGB").save(out, "JPEG")
    return out.getvalue()[: out.tell() * 2 // 3]


def refused(code: str) -> float:
    return REGISTRY.get_sample_value("mektep_photos_refused_total", {"code": code}) or 0.0


def _dish(world: World, head: dict[str, str]) -> str:
    made = world.client.post("/v1/schools/s1/dishes", json={"names": {"ru": "Плов"}, "price_tiyn": 65000}, headers=head)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_an_image_header_followed_by_html_or_a_bomb_or_a_damaged_file_is_refused_with_its_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = world.token("head@s1.kz")
    dish_url = f"/v1/schools/s1/dishes/{_dish(world, head)}/photo"
    person_url = f"/v1/schools/s1/people/{world.ids[CHILD]}/photo"
    headers = {**head, "Content-Type": "image/png"}
    cases = [
        (b"\x89PNG\r\n\x1a\n" + HTML, "photo_type", 415),
        (b"\xff\xd8\xff\xe0" + HTML, "photo_type", 415),
        (b"RIFF\x00\x10\x00\x00WEBPVP8 " + HTML, "photo_type", 415),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "photo_type", 415),
        (encoded("GIF"), "photo_type", 415),  # a browser shows it, but it is none of the three
        (cut_short(), "photo_unreadable", 422),
        (png_declaring(50_000, 50_000), "photo_too_many_pixels", 422),
        (png_declaring(20_000, 4_000), "photo_too_many_pixels", 422),  # 80 MP: under Pillow's own bound, over ours
    ]
    # A bomb must be refused from its header: decoding 2.5 gigapixels would take minutes and gigabytes.
    decoded: list[str] = []
    original_load = ImageFile.ImageFile.load

    def load(image: ImageFile.ImageFile) -> Any:
        decoded.append(f"{image.format} {image.size}")
        return original_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    for url in (dish_url, person_url):
        for body, code, status in cases:
            before = refused(code)
            answer = world.client.put(url, content=body, headers=headers)
            assert (answer.status_code, answer.json()["detail"]["code"]) == (status, code), body[:40]
            assert refused(code) == before + 1
    assert not [d for d in decoded if "50000" in d or "20000" in d]
    # nothing was kept: the dish has no photo, the child none either
    with world.app.state.engine.connect() as conn:
        assert conn.execute(select(photos.c.sha256)).first() is None
        assert person_photos_of(conn, "s1") == {}
    dishes = world.client.get("/v1/schools/s1/dishes", headers=head).json()
    assert [d["photo_url"] for d in dishes] == [None]


def test_each_refusal_says_how_to_fix_it_in_the_callers_language(world: World) -> None:
    head = world.token("head@s1.kz")
    url = f"/v1/schools/s1/dishes/{_dish(world, head)}/photo"
    bomb, html = png_declaring(50_000, 50_000), b"\x89PNG\r\n\x1a\n" + HTML
    damaged = cut_short()
    said = {
        (language, body[:12]): world.client.put(
            url, content=body, headers={**head, "Accept-Language": language}
        ).json()["detail"]["message"]
        for language in ("kk", "ru", "en")
        for body in (bomb, html, damaged)
    }
    assert "25 мегапиксель" in said["kk", bomb[:12]] and "кішірейтіп" in said["kk", bomb[:12]]
    assert "25 мегапикселей" in said["ru", bomb[:12]] and "уменьшите" in said["ru", bomb[:12]]
    assert "25 megapixels" in said["en", bomb[:12]]
    assert "JPEG, PNG" in said["en", html[:12]] and "изображение" in said["ru", html[:12]]
    assert "повреждено" in said["ru", damaged[:12]] and "бүлінген" in said["kk", damaged[:12]]
    assert "damaged" in said["en", damaged[:12]]


def test_a_phones_photo_is_served_upright_without_its_gps_or_any_metadata(world: World) -> None:
    head = world.token("head@s1.kz")
    sent = phone_photo()
    dish = world.client.put(
        f"/v1/schools/s1/dishes/{_dish(world, head)}/photo",
        content=sent,
        headers={**head, "Content-Type": "image/jpeg"},
    )
    assert dish.status_code == 200, dish.text
    url = dish.json()["photo_url"]
    got = world.client.get(url)  # the public URL, as an <img> in the parent app asks it
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    served = got.content
    # named by the hash of what is served, which is what is stored, and not what was sent
    assert url == f"/v1/photos/{hashlib.sha256(served).hexdigest()}" and served != sent
    with world.app.state.engine.connect() as conn:
        stored = conn.execute(select(photos.c.data).where(photos.c.sha256 == url.rsplit("/", 1)[1])).scalar_one()
    assert bytes(stored) == served
    image = Image.open(io.BytesIO(served))
    image.load()  # a valid image, whole
    assert image.format == "JPEG" and image.size == (800, 1600)  # upright (it lay on its side), at most 1600 px
    assert image.getpixel((400, 100))[0] > 200 and image.getpixel((400, 1500))[2] > 200  # red on top, blue below
    assert dict(image.getexif()) == {}
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(image.info)
    for trace in (b"Exif", b"PhoneMaker", b"xmpmeta", b"ICC_PROFILE", b"<script"):
        assert trace not in served


def test_a_valid_image_with_a_page_after_it_is_kept_without_the_page(world: World) -> None:
    head, child = world.token("head@s1.kz"), world.ids[CHILD]
    polyglot = encoded("PNG") + HTML  # a whole PNG, then HTML: both at once
    put = world.client.put(f"/v1/schools/s1/people/{child}/photo", content=polyglot, headers=head)
    assert put.status_code == 204
    with world.app.state.engine.connect() as conn:
        digest = person_photos_of(conn, "s1")[child]
    got = world.client.get(f"/v1/schools/s1/photos/{digest}", headers=world.token("cook@s1.kz"))
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert b"<script" not in got.content and b"<html" not in got.content
    assert Image.open(io.BytesIO(got.content)).size == (64, 48)


def test_photos_stored_by_an_earlier_version_are_re_encoded_or_removed(database_url: str) -> None:
    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "0017")  # photos kept as they were sent
    raw_dish, raw_face = phone_photo(), b"\x89PNG\r\n\x1a\n" + HTML
    old_dish, old_face = hashlib.sha256(raw_dish).hexdigest(), hashlib.sha256(raw_face).hexdigest()
    dish_id, person_id = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for digest, kind, data, content_type in (
                (old_dish, "dish", raw_dish, "image/jpeg"),
                (old_face, "person", raw_face, "image/png"),
            ):
                conn.execute(
                    insert(photos).values(
                        sha256=digest,
                        school_id="s1",
                        kind=kind,
                        content_type=content_type,
                        data=data,
                        at=at,
                        actor="account:head",
                    )
                )
            stamp = {"school_id": "s1", "version": 2, "at": at, "actor": "account:head"}
            conn.execute(insert(roster_versions).values(school_id="s1", version=2))
            conn.execute(
                insert(dish_versions).values(
                    dish_id=dish_id,
                    names={"ru": "Плов"},
                    price_tiyn=65000,
                    allergens=[],
                    photo_url=f"/v1/photos/{old_dish}",
                    **stamp,
                )
            )
            conn.execute(insert(person_photos).values(person_id=person_id, sha256=old_face, **stamp))
        upgrade(database_url)
        with engine.connect() as conn:
            [dish] = current_dishes(conn, "s1", since=2)  # changed after what a gateway holds: it pulls it
            assert dish.id == dish_id and dish.price_tiyn == 65000 and dish.photo_url is not None
            new_dish = dish.photo_url.rsplit("/", 1)[1]
            kept = photo(conn, new_dish)
            assert person_photos_of(conn, "s1") == {}  # the HTML "PNG" is gone: the child has no photo
            face_rows = conn.execute(
                select(person_photos.c.sha256, person_photos.c.version).order_by(person_photos.c.id)
            ).all()
            journal = audit_entries(conn, "s1", "person_photo")
            stored = set(conn.execute(select(photos.c.sha256)).scalars())
        with engine.begin() as conn:  # an older API process, still up during the upgrade, stores a photo as sent
            late = {"school_id": "s1", "kind": "dish", "content_type": "image/png", "at": at, "actor": "account:head"}
            conn.execute(insert(photos).values(sha256=old_face, data=raw_face, **late))
            assert photo(conn, old_face) is None  # never served
    finally:
        engine.dispose()
    assert kept is not None and kept.content_type == "image/jpeg" and hashlib.sha256(kept.data).hexdigest() == new_dish
    assert new_dish != old_dish and stored == {new_dish}  # neither raw photo is kept, let alone served
    image = Image.open(io.BytesIO(kept.data))
    image.load()
    assert image.size == (800, 1600) and dict(image.getexif()) == {} and b"<script" not in kept.data
    assert face_rows == [(old_face, 2), (None, 3)]  # history stays; the removal took the next version
    assert [(e["before"], e["after"], e["actor"]) for e in journal] == [
        ({"sha256": old_face}, {"sha256": None}, "migration:0018")
    ]
