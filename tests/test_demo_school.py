"""The demo's school: the guardian it prints can sign in to the parent app and sees their child."""

from __future__ import annotations

import random
from pathlib import Path

from fastapi.testclient import TestClient

from cloud_api.app import create_app
from cloud_api.settings import CloudSettings
from mektep.demo_school import seed_school


def test_the_demo_guardian_signs_in_and_sees_a_child_with_todays_lunch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    school = seed_school(url, "demo-school", 12, b"k" * 32, random.Random(1))
    assert len(school.cards) == len(set(school.cards)) == 12 + 1  # twelve students and one teacher
    app = create_app(CloudSettings(database_url=url, admin_token="t" * 24, push_workers=0))
    with TestClient(app, base_url="http://testserver") as client:
        form = {"login": school.guardian_login, "password": school.password, "lang": "ru"}
        signed_in = client.post(
            "/app/sign-in", data=form, headers={"Origin": "http://testserver"}, follow_redirects=False
        )
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/app/"
        home = client.get("/app/")
        assert home.status_code == 200 and "Имя" in home.text  # the generated child's first name
        menu = client.get("/app/menu")
        assert "Плов" in menu.text and "700" in menu.text
        admin = client.post("/v1/auth/sign-in", json={"login": school.admin_login, "password": school.password})
        assert admin.status_code == 200
