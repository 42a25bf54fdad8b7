"""The gateway's photo cache: only what the roster names, only bytes that hash to their name, retried."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from gateway.roster.photos import PhotoFetcher, digest_of, missing, photo, prune_batch, store
from gateway.roster.photos import migrate as migrate_photos
from gateway.roster.store import apply, migrate
from gateway.storage import Storage
from gateway.taps.outbox import open_database
from shared.contract import HEADER_GATEWAY, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify
from shared.roster_contract import PHOTOS_PATH
from tests.gateway.roster_factories import SCHOOL, School

KEY = b"gateway-key-0123456789abcdef"
FACE, PLOV, BROKEN = b"\x89PNG face of Aliya", b"\xff\xd8\xff plov", b"\x89PNG what the cloud meant"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_photo_reference_is_a_digest_or_nothing() -> None:
    digest = sha(PLOV)
    assert digest_of(f"/v1/photos/{digest}") == digest == digest_of(digest)
    assert digest_of("https://cdn.example/plov.jpg") is None and digest_of(None) is None


async def test_the_fetcher_keeps_good_photos_drops_corrupt_ones_and_retries_the_rest(tmp_path: Path) -> None:
    school = School()
    school.add("ALIYA", photo_sha256=sha(FACE))
    school.add("BOLAT", photo_sha256=sha(BROKEN))
    school.add("NOFACE")
    school.plov = school.plov.model_copy(update={"photo_url": f"/v1/photos/{sha(PLOV)}"})
    db = open_database(tmp_path / "gateway.db")
    migrate(db)
    migrate_photos(db)
    apply(db, school.delta(), SCHOOL)
    assert missing(db) == sorted({sha(FACE), sha(BROKEN), sha(PLOV)})
    asked: list[str] = []
    cloud_has = {sha(FACE): FACE, sha(BROKEN): b"\x89PNG bytes flipped on the way"}

    def cloud(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        h = request.headers
        signed = verify(KEY, "GET", path, h.get(HEADER_TIMESTAMP, ""), b"", h.get(HEADER_SIGNATURE, ""))
        if h.get(HEADER_GATEWAY) != "gw1" or not signed:
            return httpx.Response(401)
        asked.append(path)
        data = cloud_has.get(path.rsplit("/", 1)[-1])
        return httpx.Response(200, content=data, headers={"content-type": "image/png"}) if data else httpx.Response(503)

    storage = Storage(tmp_path / "gateway.db")
    await storage.open()
    fetcher = PhotoFetcher(storage=storage, gateway_id="gw1", key=KEY)
    async with httpx.AsyncClient(transport=httpx.MockTransport(cloud), base_url="http://cloud") as client:
        assert await fetcher.fetch(client) == 1
        assert (fetcher.stats.fetched, fetcher.stats.corrupt, fetcher.stats.failures) == (1, 1, 1)
        assert all(p.startswith(PHOTOS_PATH + "/") for p in asked)
        cloud_has[sha(PLOV)] = PLOV  # the cloud is well again
        asked.clear()
        assert await fetcher.fetch(client) == 1
        assert sorted(asked) == sorted(f"{PHOTOS_PATH}/{d}" for d in (sha(BROKEN), sha(PLOV)))  # not the face again
    await storage.close()
    assert photo(db, sha(FACE)) == ("image/png", FACE) and photo(db, sha(BROKEN)) is None
    assert missing(db) == [sha(BROKEN)]


async def test_photos_the_roster_no_longer_names_are_pruned_after_the_retention_and_none_come_when_low(
    tmp_path: Path,
) -> None:
    school = School()
    school.add("ALIYA", photo_sha256=sha(FACE))
    db = open_database(tmp_path / "gateway.db")
    migrate(db)
    migrate_photos(db)
    apply(db, school.delta(), SCHOOL)
    store(db, sha(FACE), "image/png", FACE)
    store(db, sha(PLOV), "image/jpeg", PLOV)  # a dish since taken off the menu
    now = datetime.now(UTC)
    assert prune_batch(db, now, unnamed_for=timedelta(days=30)) == 0  # its month starts now
    assert prune_batch(db, now + timedelta(days=29), unnamed_for=timedelta(days=30)) == 0
    assert prune_batch(db, now + timedelta(days=31), unnamed_for=timedelta(days=30)) == 1
    assert photo(db, sha(PLOV)) is None and photo(db, sha(FACE)) == ("image/png", FACE)  # the face stays, however old
    assert prune_batch(db, now + timedelta(days=400), unnamed_for=timedelta(0)) == 0

    storage = Storage(tmp_path / "gateway.db")
    await storage.open()
    fetcher = PhotoFetcher(storage=storage, gateway_id="gw1", key=KEY, disk_low=lambda: True)
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(500)), base_url="http://c"
    ) as c:
        assert await fetcher.fetch(c) == 0 and fetcher.stats.skipped_low_disk == 1 and fetcher.stats.failures == 0
    await storage.close()
