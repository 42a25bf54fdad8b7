"""The API keeps the contract its OpenAPI document states, for an anonymous caller, a school admin and
a guardian: Schemathesis generates requests from the document and runs all its default checks."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from cloud_api.app import create_app
from cloud_api.push.keys import ensure_vapid_key
from cloud_api.settings import CloudSettings
from tests.cloud_api.helpers import ADMIN
from tests.cloud_api.school import World, seed_world

# Schemathesis reads the document when the module is collected, so the app is made then; its
# database is set up once for the module (the fixture below), and every test calls into it.
_FOLDER = Path(tempfile.mkdtemp(prefix="mektep-contract-"))
APP = create_app(CloudSettings(database_url=f"sqlite:///{_FOLDER / 'cloud.db'}", admin_token=ADMIN, push_workers=0))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# Bounded and derandomized: the same examples every run, a couple of minutes for the three callers.
BOUNDED = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with TestClient(APP) as client:
        with APP.state.engine.begin() as conn:
            ensure_vapid_key(conn)  # a deployment made by `mektep cloud init`: push is ready
        world = seed_world(client, APP)
        # Signed in before any fuzzing: the anonymous caller's wrong passwords throttle this
        # address's sign-ins for 15 minutes, as they would a sprayer's.
        world.signed_in = {"school_admin": world.token("head@s1.kz"), "guardian": world.token("8 (701) 234-56-78")}
        yield world


@pytest.fixture(scope="module")
def school_admin(world: World) -> dict[str, str]:
    return world.signed_in["school_admin"]


@pytest.fixture(scope="module")
def guardian(world: World) -> dict[str, str]:
    return world.signed_in["guardian"]


@schema.parametrize()
@BOUNDED
def test_an_anonymous_caller(case: schemathesis.Case, world: World) -> None:
    case.call_and_validate()


@schema.parametrize()
@BOUNDED
def test_a_school_admin(case: schemathesis.Case, school_admin: dict[str, str]) -> None:
    case.call_and_validate(headers=school_admin)


@schema.parametrize()
@BOUNDED
def test_a_guardian(case: schemathesis.Case, guardian: dict[str, str]) -> None:
    case.call_and_validate(headers=guardian)
