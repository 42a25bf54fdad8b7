"""/healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from shared.contract import INGEST_PATH
from tests.cloud_api.helpers import batch_body, event, signed

# The cluster runs the cases whose SQL differs there; the rest run on SQLite and PostgreSQL.
ON_CITUS = (
    "test_healthz_answers_ok_when_the_database_does",
    "test_metrics_count_events_and_refusals",
)


def test_healthz_answers_ok_when_the_database_does(client: TestClient) -> None:
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok", "database": "ok"})


def test_healthz_is_503_when_the_database_is_down(client: TestClient) -> None:
    engine = client.app.state.engine
    # Nothing listens on port 1: connecting fails at once, as with a stopped server.
    client.app.state.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        r = client.get("/healthz")
    finally:
        client.app.state.engine.dispose()
        client.app.state.engine = engine
    assert r.status_code == 503
    assert r.json() == {"status": "error", "database": "OperationalError"}


def test_metrics_count_events_and_refusals(client: TestClient) -> None:
    body = batch_body([event(1)])
    client.post(INGEST_PATH, content=body, headers=signed(body))
    client.post(INGEST_PATH, content=body, headers=signed(body, key="not-the-gateway-key"))
    text = client.get("/metrics").text
    assert 'mektep_ingest_refused_total{reason="bad_signature"}' in text
    assert 'mektep_ingest_events_total{status="accepted"}' in text
    assert "mektep_ingest_seconds_bucket" in text


def test_openapi_documents_the_raw_ingest_body_and_its_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"][INGEST_PATH]["post"]
    media = op["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": "#/components/schemas/Batch"}
    assert media["examples"]["one_entry"]["value"]["events"]
    schemas = spec["components"]["schemas"]
    assert {"Batch", "Event", "MealInfo", "BatchResult", "ErrorResponse"} <= set(schemas)
    assert schemas["Batch"]["properties"]["events"]["items"] == {"$ref": "#/components/schemas/Event"}
    for status in ("401", "413", "422"):
        content = op["responses"][status]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
        assert content["examples"], status
    assert set(op["responses"]["401"]["content"]["application/json"]["examples"]) >= {
        "missing_signature",
        "unknown_gateway",
        "bad_signature",
        "stale_timestamp",
        "replayed",
    }
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BatchResult"
    }
    headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
    assert set(headers) == {"X-Mektep-Gateway", "X-Mektep-Timestamp", "X-Mektep-Signature"}
    assert all(p["required"] and p["description"] for p in headers.values())
    assert "/v1/schools/{school_id}/events" in spec["paths"] and "/healthz" in spec["paths"]


def test_every_documented_example_batch_is_valid(client: TestClient) -> None:
    from shared.contract import Batch

    op = client.get("/openapi.json").json()["paths"][INGEST_PATH]["post"]
    for example in op["requestBody"]["content"]["application/json"]["examples"].values():
        Batch.model_validate(example["value"])


def test_a_session_is_a_bearer_token_or_the_pages_cookie_and_every_refusal_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {
        "bearer",
        "session",
        "apiClient",
    }  # apiClient: outside systems
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operation = spec["paths"]["/v1/schools/{school_id}/people/{person_id}"]["get"]
    assert operation["security"] == [{"bearer": []}, {"session": []}]  # either one, not both
    for status in ("401", "403", "404", "422"):
        assert operation["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }, status
    sign_in = spec["paths"]["/v1/auth/sign-in"]["post"]["responses"]
    assert {"400", "401", "422", "429"} <= set(sign_in) and "security" not in spec["paths"]["/v1/auth/sign-in"]["post"]
