"""One way to refuse: every code the cloud raises has its status in one table, and every refusal has one body."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from cloud_api.api.errors import STATUS
from cloud_api.services.signatures import Refusal
from shared.i18n import catalog_messages
from tests.cloud_api.school import CHILD, OTHER_CHILD, World
from tests.cloud_api.test_parent_app import signed_in

# The one status table and the catalogs are the same on every database.
ON_CITUS = ()

ROOT = Path(__file__).resolve().parents[2]
RAISED = re.compile(r'(?:DomainError|RosterFileError)\(\s*"(\w+)"')


def raised_codes() -> set[str]:
    codes = {r.value for r in Refusal}
    for path in (ROOT / "cloud_api").rglob("*.py"):
        codes |= set(RAISED.findall(path.read_text(encoding="utf-8")))
    return codes


def test_every_code_raised_has_its_status_in_the_one_table() -> None:
    missing = raised_codes() - set(STATUS)
    assert not missing, f"add these codes to cloud_api/api/errors.py: {sorted(missing)}"


def test_every_code_a_person_may_read_is_translated() -> None:
    # The ingest's codes are read by a gateway's operator in its log, in English, with their detail.
    for_people = raised_codes() - {r.value for r in Refusal}
    for language in ("kk", "ru", "en"):
        assert for_people <= set(catalog_messages(language)), language  # type: ignore[arg-type]


def test_a_refusal_says_its_code_in_the_callers_language(client: TestClient) -> None:
    url = "/v1/schools/s1/people/00000000-0000-0000-0000-000000000000"
    answers = {lang: client.get(url, headers={"Accept-Language": lang}) for lang in ("ru-RU,ru;q=0.9", "en", "fr")}
    assert {r.status_code for r in answers.values()} == {401}
    bodies = {lang: r.json()["detail"] for lang, r in answers.items()}
    assert {b["code"] for b in bodies.values()} == {"sign_in_required"}
    assert bodies["ru-RU,ru;q=0.9"]["message"] == catalog_messages("ru")["sign_in_required"]
    assert bodies["en"]["message"] == catalog_messages("en")["sign_in_required"]
    assert bodies["fr"]["message"] == catalog_messages("kk")["sign_in_required"]  # the state language
    assert answers["en"].headers["WWW-Authenticate"] == "Bearer"


def test_a_wrong_type_a_bad_body_and_a_wrong_method_answer_the_same_body(client: TestClient) -> None:
    wrong_type = client.get("/v1/schools/s1/events", params={"date": "20.11.2026"}, headers={"Authorization": "x"})
    assert wrong_type.status_code in (401, 422)
    unreadable = client.post(
        "/v1/auth/sign-in",
        content=b'{"login": "\xff\xfe", "password": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert (unreadable.status_code, unreadable.json()["detail"]["code"]) == (400, "unreadable_body")
    missing = client.post("/v1/auth/sign-in", json={"login": "a@b.kz"})
    assert missing.status_code == 422
    detail = missing.json()["detail"]
    assert detail["code"] == "invalid_request" and detail["errors"][0]["field"] == "body.password"
    wrong_method = client.delete("/v1/me/notification-settings")
    assert (wrong_method.status_code, wrong_method.json()["detail"]["code"]) == (405, "method_not_allowed")
    assert wrong_method.headers["Allow"] == "GET, PUT"  # every method of the path, not the first route's
    nowhere = client.get("/v1/nowhere")
    assert (nowhere.status_code, nowhere.json()["detail"]["code"]) == (404, "not_found")


def test_a_page_answers_a_refusal_with_a_page_in_the_readers_language(world: World) -> None:
    # A month that is no month answered 500 once (the pattern let 2026-13 through to the date parser).
    client = signed_in(world, lang="ru")
    child = world.ids[CHILD]
    bad_month = client.get(f"/app/children/{child}", params={"month": "2026-13"})
    assert bad_month.status_code == 422
    assert bad_month.headers["content-type"].startswith("text/html")
    assert "В адресе страницы ошибка" in bad_month.text
    assert "На главную страницу" in bad_month.text
    other_family = client.get(f"/app/children/{world.ids[OTHER_CHILD]}")
    assert other_family.status_code == 404 and catalog_messages("ru")["not_found"] in other_family.text


def test_a_value_of_the_wrong_type_is_refused_not_read_as_another(world: World) -> None:
    # Each of these once changed what the request meant: false read as 0 (no limit left, a free
    # dish), 0 read as false (consent withdrawn).
    head, mother = world.token("head@s1.kz"), world.token("8 (701) 234-56-78")
    child = world.ids[CHILD]
    refused = {
        "limit": world.client.put(f"/v1/me/children/{child}/daily-limit", json={"limit_tiyn": False}, headers=mother),
        "consent": world.client.post(f"/v1/me/children/{child}/consent", json={"given": 0}, headers=mother),
        "dish": world.client.post(
            "/v1/schools/s1/dishes", json={"names": {"ru": "Суп"}, "price_tiyn": False}, headers=head
        ),
        "top-up": world.client.post(f"/v1/schools/s1/people/{child}/credits", json={"amount_tiyn": True}, headers=head),
    }
    for what, answer in refused.items():
        assert (answer.status_code, answer.json()["detail"]["code"]) == (422, "invalid_request"), what
    assert world.client.get(f"/v1/me/children/{child}/balance", headers=mother).json()["daily_limit_tiyn"] is None
    assert world.client.get("/v1/me/children", headers=mother).json()[0]["consent"] is False
    assert world.client.get("/v1/schools/s1/dishes", headers=head).json() == []


def test_a_top_up_is_positive_and_a_correction_is_never_zero_as_the_schema_says(world: World) -> None:
    head, child = world.token("head@s1.kz"), world.ids[CHILD]
    url = f"/v1/schools/s1/people/{child}/credits"
    assert world.client.post(url, json={"amount_tiyn": 50000}, headers=head).status_code == 201
    assert world.client.post(url, json={"kind": "correction", "amount_tiyn": -2000}, headers=head).status_code == 201
    for wrong in ({"amount_tiyn": -1}, {"kind": "correction", "amount_tiyn": 0}, {"amount_tiyn": 10**12}):
        assert world.client.post(url, json=wrong, headers=head).status_code == 422, wrong
    schema = world.client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["TopUpIn"]["properties"]["amount_tiyn"]["minimum"] == 1
    assert schema["CorrectionIn"]["properties"]["amount_tiyn"]["not"] == {"const": 0}
